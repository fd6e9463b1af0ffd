"""Value types of the face engine.

Coordinates are image pixels of the decoded, EXIF-upright image, x to the right, y down.
Landmark order (MTCNN): left eye centre (image left), right eye centre, nose tip, left mouth
corner, right mouth corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]
"""An RGB image, shape (height, width, 3), dtype uint8."""


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned face box in pixels (right and bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0

    def as_list(self) -> list[float]:
        return [round(self.left, 1), round(self.top, 1), round(self.right, 1), round(self.bottom, 1)]


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found by the detector.

    Attributes:
        box: the face box in pixels.
        landmarks: float32 array (5, 2) of (x, y) pixels in MTCNN order.
        score: detector confidence in [0, 1].
    """

    box: Box
    landmarks: FloatArray
    score: float


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Measured quality of one face and the refusal reasons it triggers.

    Attributes:
        face_size_px: inter-ocular distance of the face in pixels of the original image.
        box_height_px: detector box height in pixels.
        sharpness: variance of the Laplacian of the grey 150x150 chip (higher = sharper).
        brightness: mean grey level of the central face region of the chip, 0-255.
        yaw, pitch, roll: head pose estimated from the 5 landmarks, degrees (0 = frontal).
        issues: stable refusal codes in priority order (empty when the face is usable):
            ``face_too_small``, ``too_blurry``, ``too_dark``, ``overexposed``, ``pose_too_far``.
        flags: extra findings that do not refuse (``lower_face_covered``, ``head_tilted``).
    """

    face_size_px: float
    box_height_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    issues: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the face passes every enrollment quality gate."""
        return not self.issues

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "face_size_px": round(self.face_size_px, 1),
            "box_height_px": round(self.box_height_px, 1),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
            "roll": round(self.roll, 1),
            "issues": list(self.issues),
            "flags": list(self.flags),
        }


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face with its quality report (what :meth:`FaceEngine.detect` returns)."""

    box: Box
    landmarks: FloatArray
    score: float
    quality: QualityReport


@dataclass(frozen=True, slots=True)
class Template:
    """A face template: an L2-normalised 128-d descriptor tagged with the model that made it.

    Attributes:
        vector: float32 array (128,), unit L2 norm.
        model_id: id of the model files and preprocessing that produced it; templates of
            different model ids are never compared.
        n_images: how many images were fused into it (1-5).
    """

    vector: FloatArray
    model_id: str
    n_images: int = 1
    quality: tuple[QualityReport, ...] = field(default=(), compare=False)

    def to_bytes(self) -> bytes:
        """The vector as 512 little-endian float32 bytes (what gets encrypted at rest)."""
        return np.asarray(self.vector, dtype="<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, model_id: str, n_images: int = 1) -> Template:
        """Inverse of :meth:`to_bytes`."""
        vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
        return cls(vector=vector, model_id=model_id, n_images=n_images)

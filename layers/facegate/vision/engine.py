"""The face engine: decode → detect → align → quality → embed → fuse, behind a few verbs.

``FaceEngine.load(model_dir)`` opens one ONNX session per model (YuNet detector, SFace embedder) from the
model directory built by ``facegate model build``. Descriptors are SFace's 128-d output,
flip-averaged (chip + mirror image) and L2-normalised; similarity is their cosine in [-1, 1].
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from facegate.errors import FaceRejected, InvalidRequest, ModelMismatch
from facegate.vision import quality
from facegate.vision.align import ROUTE_TEMPLATE, align_face, arcface_chip
from facegate.vision.decode import DEFAULT_LIMITS, DecodedImage, DecodeLimits, decode_image
from facegate.vision.embedder import CHIP_SIZE, Embedder
from facegate.vision.manifest import DETECTOR_FILE, EMBEDDER_FILE, verify_model_dir
from facegate.vision.pipeline import (
    DETECTOR_SCORE,
    ENROLL_MIN_FACE_FRACTION,
    FLIP_AVERAGE,
    MIN_DETECTOR_FACE_PX,
    MIN_FACE_SCORE,
    PROBE_MAX_MIN_FACE_PX,
    PROBE_MIN_FACE_FRACTION,
)
from facegate.vision.types import Detection, Face, FloatArray, ImageArray, QualityReport, Template

Pick = Literal["largest", "center"]

MAX_ENROLL_IMAGES = 5
MAX_PROBE_FRAMES = 3
SIGNIFICANT_FACE_RATIO = 0.4
"""A second face counts against an enrollment when its box is at least this fraction of the largest
face's height (small faces far in the background do not)."""
CONSISTENCY_THRESHOLD = 0.35
"""Enrollment images less similar than this (cosine) to one another are not one person
(``inconsistent_faces``). On the 1000 LFW dev pairs (SFace, face nearest the centre) 98.6% of
same-person pairs (taken years apart) and 0.2% of different-person pairs score at least 0.35 (dlib's
0.92 would refuse every same-person pair: SFace's scores run lower, median 0.69); a burst taken in one
sitting scores higher. It is a guard against mixing people by mistake, not a security check (the
visitor enrolls themself)."""


ROTATION_CHECK_SIDE = 256
"""Side in pixels of the copy the enrollment rotation check runs on (the face and one box of context)."""
ROTATION_MARGIN = 0.02
"""A selfie is refused as stored sideways when a turned copy scores more than this above the stored one.
Measured (``scripts/measure_rotation.py``): the stored orientation scores highest in 99.9% of LFW dev
images; a sideways LFW face without an EXIF tag scores 0.74-0.81 as stored and about 0.9 turned upright."""


class FaceDetector(Protocol):
    """What the engine needs of a detector: faces of an RGB image with five landmarks (YuNet order)."""

    def detect(self, rgb: ImageArray, min_face_px: float = 20.0, score_threshold: float = 0.6) -> list[Detection]:
        """Faces of ``rgb`` whose box is at least ``min_face_px``, best score first."""
        ...

    def refine(self, rgb: ImageArray, detection: Detection) -> Detection:
        """The same face with more precise landmarks."""
        ...


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Paths of the model directory's files, from its manifest."""

    detector: Path
    embedder: Path
    model_id: str
    manifest: dict[str, Any]


def model_files(model_dir: Path) -> ModelFiles:
    """Locate and verify the model files.

    Raises:
        ModelUnavailable: missing directory/manifest, or a file that fails its sha256.
    """
    manifest = verify_model_dir(model_dir)
    return ModelFiles(
        detector=model_dir / DETECTOR_FILE,
        embedder=model_dir / EMBEDDER_FILE,
        model_id=str(manifest["model_id"]),
        manifest=manifest,
    )


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    normalised: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


def fuse(descriptors: npt.NDArray[np.float32]) -> FloatArray:
    """One unit vector from several unit descriptors of one person: their normalised mean."""
    fused: FloatArray = l2_normalise(np.mean(descriptors, axis=0, keepdims=True))[0]
    return fused


def pick_face(detections: Sequence[Detection], width: int, height: int, pick: Pick) -> Detection:
    """The dominant face: the largest box, or the one whose centre is nearest the image centre."""
    if pick == "center":
        cx, cy = width / 2.0, height / 2.0
        return min(detections, key=lambda d: (d.box.center[0] - cx) ** 2 + (d.box.center[1] - cy) ** 2)
    return max(detections, key=lambda d: d.box.width * d.box.height)


class FaceEngine:
    """Face detection, quality and templates from image bytes (one CPU thread by default)."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: Embedder,
        model_id: str,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.limits = limits
        self._model_id = model_id

    @classmethod
    def load(
        cls,
        model_dir: Path | str,
        *,
        threads: int = 1,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> FaceEngine:
        """Open the models in ``model_dir`` once (``Settings.model_dir``: ``$FACEGATE_MODEL_DIR``,
        ``/opt/models`` on Lambda, else ``build/models``); every file is checked against the manifest's sha256."""
        from facegate.vision.yunet import YuNetDetector

        files = model_files(Path(model_dir))
        return cls(
            detector=YuNetDetector(files.detector, threads=threads),
            embedder=Embedder(files.embedder, threads=threads),
            model_id=files.model_id,
            limits=limits,
        )

    @property
    def model_id(self) -> str:
        """Id of the model files and preprocessing; templates of other ids are never compared."""
        return self._model_id

    # -- building blocks --------------------------------------------------------------------

    def decode(self, image: bytes) -> DecodedImage:
        """Decode untrusted bytes under the engine's limits (typed errors on bad input)."""
        return decode_image(image, self.limits)

    def find_faces(self, decoded: DecodedImage, enrollment: bool = False) -> list[Detection]:
        """Confident detections on the working image.

        Enrollment looks for faces down to 4% of the shorter side (to see bystanders); door frames down to
        15% of it, never above 40 px (speed). Never below 20 px.
        """
        height, width = decoded.rgb.shape[:2]
        short = min(height, width)
        if enrollment:
            min_face = max(MIN_DETECTOR_FACE_PX, ENROLL_MIN_FACE_FRACTION * short)
        else:
            min_face = max(MIN_DETECTOR_FACE_PX, min(PROBE_MAX_MIN_FACE_PX, PROBE_MIN_FACE_FRACTION * short))
        found = self.detector.detect(decoded.rgb, min_face_px=min_face, score_threshold=DETECTOR_SCORE)
        return [d for d in found if d.score >= MIN_FACE_SCORE]

    def refine(self, rgb: ImageArray, detection: Detection) -> Detection:
        """The face with precise landmarks (a second detector pass around it)."""
        return self.detector.refine(rgb, detection)

    def chip(self, rgb: ImageArray, detection: Detection) -> ImageArray:
        """The embedder's 112x112 ArcFace-aligned chip of one detection."""
        return arcface_chip(rgb, np.asarray(detection.landmarks, dtype=np.float64))

    def stored_sideways(self, rgb: ImageArray, face: Detection) -> bool:
        """True when the photo turned by 90, 180 or 270 degrees shows a face the detector is surer of than
        ``face`` as stored: the photo is sideways or upside down without an EXIF tag saying so (the
        detector reports such faces as upright ones). Checked on a copy of at most
        :data:`ROTATION_CHECK_SIDE` px; the region around ``face`` only."""
        height, width = rgb.shape[:2]
        side = max(face.box.width, face.box.height)
        cx, cy = face.box.center
        left, top = round(max(0.0, cx - side)), round(max(0.0, cy - side))
        right, bottom = round(min(width, cx + side)), round(min(height, cy + side))
        crop = Image.fromarray(rgb).crop((left, top, right, bottom))
        crop.thumbnail((ROTATION_CHECK_SIDE, ROTATION_CHECK_SIDE), Image.Resampling.BILINEAR)
        region = np.asarray(crop)

        def best(image: ImageArray) -> float:
            found = self.detector.detect(np.ascontiguousarray(image), min_face_px=16.0, score_threshold=0.3)
            return max((d.score for d in found), default=0.0)

        upright = best(region)
        return any(best(np.rot90(region, turns)) > upright + ROTATION_MARGIN for turns in (1, 2, 3))

    @staticmethod
    def quality_chip(rgb: ImageArray, detection: Detection) -> ImageArray:
        """The 150x150 chip the quality measures are calibrated on (template alignment, dlib geometry)."""
        return align_face(rgb, detection, ROUTE_TEMPLATE)

    def _enroll_quality(self, decoded: DecodedImage, detection: Detection) -> QualityReport:
        chip = self.quality_chip(decoded.rgb, detection)
        return quality.assess(
            detection,
            chip,
            decoded.scale,
            quality.ENROLL_THRESHOLDS,
            chip,
            image_short_side_px=min(decoded.original_size),
        )

    def descriptors(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Unit descriptors (N, 128) of chips (N, 112, 112, 3) (flip-averaged in one batch if
        :data:`~facegate.vision.pipeline.FLIP_AVERAGE`)."""
        if not FLIP_AVERAGE:
            return l2_normalise(self.embedder.embed(chips))
        batch = np.concatenate([chips, chips[:, :, ::-1, :]], axis=0)
        raw = self.embedder.embed(np.ascontiguousarray(batch))
        count = chips.shape[0]
        return l2_normalise(raw[:count] + raw[count:])

    def describe(self, image: bytes, pick: Pick = "largest") -> FloatArray | None:
        """The unit descriptor of the dominant face of ``image`` without quality gates, or None if no face.

        Used by evaluation; products use :meth:`enroll_template` and :meth:`probe_template`.
        """
        decoded = self.decode(image)
        detections = self.find_faces(decoded)
        if not detections:
            return None
        height, width = decoded.rgb.shape[:2]
        chip = self.chip(decoded.rgb, self.refine(decoded.rgb, pick_face(detections, width, height, pick)))
        descriptor: FloatArray = self.descriptors(chip[None])[0]
        return descriptor

    # -- the public verbs ---------------------------------------------------------------------

    def detect(self, image: bytes) -> list[Face]:
        """Every confident face in ``image``: box and landmarks (original-image pixels), score, and
        a quality report against the enrollment gates. Largest face first."""
        decoded = self.decode(image)
        faces = []
        for found in sorted(self.find_faces(decoded, enrollment=True), key=lambda d: -d.box.height):
            detection = self.refine(decoded.rgb, found)
            report = self._enroll_quality(decoded, detection)
            faces.append(_to_original(detection, decoded.scale, report))
        return faces

    def enroll_template(self, images: bytes | Sequence[bytes]) -> Template:
        """Fuse 1-5 selfies of one person into a template.

        Each image must hold exactly one significant face that passes the enrollment quality gates;
        the images must show the same person.

        Raises:
            ImageRejected / PayloadTooLarge: undecodable or unsafe image.
            FaceRejected: ``no_face``, ``multiple_faces``, ``face_too_small``, ``too_blurry``,
                ``too_dark``, ``overexposed``, ``pose_too_far`` or ``inconsistent_faces``.
        """
        batch = _as_list(images, MAX_ENROLL_IMAGES)
        chips, reports = [], []
        for number, data in enumerate(batch, start=1):
            decoded = self.decode(data)
            detections = self.find_faces(decoded, enrollment=True)
            if not detections:
                raise FaceRejected(_where("no face was found", number, len(batch)), code="no_face")
            largest = max(detections, key=lambda d: d.box.height)
            if self.stored_sideways(decoded.rgb, largest):
                raise FaceRejected(_where(_SIDEWAYS_TEXT, number, len(batch)), code=quality.POSE_TOO_FAR)
            significant = [d for d in detections if d.box.height >= SIGNIFICANT_FACE_RATIO * largest.box.height]
            if len(significant) > 1:
                raise FaceRejected(_where("more than one face is visible", number, len(batch)), code="multiple_faces")
            largest = self.refine(decoded.rgb, largest)
            report = self._enroll_quality(decoded, largest)
            if report.issues:
                raise FaceRejected(_where(_ISSUE_TEXT[report.issues[0]], number, len(batch)), code=report.issues[0])
            chips.append(self.chip(decoded.rgb, largest))
            reports.append(report)
        descriptors = self.descriptors(np.stack(chips))
        if len(batch) > 1:
            pairwise = descriptors @ descriptors.T
            worst = float(pairwise[np.triu_indices(len(batch), k=1)].min())
            if worst < CONSISTENCY_THRESHOLD:
                raise FaceRejected("the photos do not seem to show the same person", code="inconsistent_faces")
        return Template(vector=fuse(descriptors), model_id=self.model_id, n_images=len(batch), quality=tuple(reports))

    def probe_template(self, frames: bytes | Sequence[bytes]) -> Template:
        """Fuse the dominant face of each of 1-3 door frames into a probe.

        Frames without a usable face are skipped; if none has one, raises FaceRejected (``no_face``
        or the quality reason of the last frame). The used frames' quality reports go with the probe
        (``Template.quality``), flags such as ``lower_face_covered`` included.
        """
        batch = _as_list(frames, MAX_PROBE_FRAMES)
        chips, reports = [], []
        reason = "no_face"
        for data in batch:
            decoded = self.decode(data)
            detections = self.find_faces(decoded)
            if not detections:
                continue
            height, width = decoded.rgb.shape[:2]
            face = self.refine(decoded.rgb, pick_face(detections, width, height, "largest"))
            quality_chip = self.quality_chip(decoded.rgb, face)
            report = quality.assess(face, quality_chip, decoded.scale, quality.PROBE_THRESHOLDS, quality_chip)
            if report.issues:
                reason = report.issues[0]
                continue
            chips.append(self.chip(decoded.rgb, face))
            reports.append(report)
        if not chips:
            raise FaceRejected("no usable face in the frames", code=reason)
        descriptors = self.descriptors(np.stack(chips))
        return Template(vector=fuse(descriptors), model_id=self.model_id, n_images=len(chips), quality=tuple(reports))

    def observe(self, frames: Sequence[bytes]) -> list[tuple[Detection, FloatArray, ImageArray]]:
        """Per frame of a liveness challenge: the dominant face (refined landmarks, working-image pixels), its
        unit descriptor and its 112x112 chip (for :func:`facegate.vision.liveness.fingerprint`). No quality
        gates: the liveness checks judge the frames as a sequence.

        Raises:
            ImageRejected / PayloadTooLarge: an undecodable or unsafe frame.
            FaceRejected: ``no_face`` when a frame shows no face (the message names the frame).
        """
        faces, chips = [], []
        for number, data in enumerate(frames, start=1):
            decoded = self.decode(data)
            detections = self.find_faces(decoded)
            if not detections:
                raise FaceRejected(_where("no face was found", number, len(frames)), code="no_face")
            height, width = decoded.rgb.shape[:2]
            face = self.refine(decoded.rgb, pick_face(detections, width, height, "largest"))
            faces.append(face)
            chips.append(self.chip(decoded.rgb, face))
        if not chips:
            return []
        descriptors = self.descriptors(np.stack(chips))
        return [(face, descriptors[i], chips[i]) for i, face in enumerate(faces)]

    def similarity(self, a: Template, b: Template) -> float:
        """Cosine similarity of two templates, in [-1, 1] (higher = more alike).

        Raises:
            ModelMismatch: the templates were made by different models.
        """
        if a.model_id != b.model_id:
            raise ModelMismatch(f"templates of {a.model_id} and {b.model_id} cannot be compared")
        return float(np.clip(np.dot(a.vector, b.vector), -1.0, 1.0))

    def warm_up(self) -> float:
        """Run one inference of every model on a synthetic image; returns milliseconds taken."""
        started = time.perf_counter()
        rgb = np.full((160, 160, 3), 128, dtype=np.uint8)
        self.detector.detect(rgb, min_face_px=40.0)
        self.embedder.embed(np.zeros((2, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8))
        return (time.perf_counter() - started) * 1000.0

    def describe_model(self) -> str:
        """A one-line JSON description (model id, flip averaging) for logs and reports."""
        return json.dumps({"model_id": self.model_id, "flip_average": FLIP_AVERAGE})


_SIDEWAYS_TEXT = "the photo is sideways or upside down: hold the phone upright"

_ISSUE_TEXT = {
    quality.FACE_TOO_SMALL: "the face is too small: come closer",
    quality.TOO_BLURRY: "the photo is too blurred: hold still",
    quality.TOO_DARK: "the photo is too dark: find more light",
    quality.OVEREXPOSED: "the photo is too bright: avoid direct light",
    quality.POSE_TOO_FAR: "the head is turned too far: look at the camera",
}


def _where(text: str, number: int, total: int) -> str:
    return text if total == 1 else f"photo {number} of {total}: {text}"


def _as_list(images: bytes | Sequence[bytes], limit: int) -> list[bytes]:
    batch = [images] if isinstance(images, bytes | bytearray) else list(images)
    if not 1 <= len(batch) <= limit:
        raise InvalidRequest(f"send 1 to {limit} images", code="invalid_parts")
    return [bytes(item) for item in batch]


def _to_original(detection: Detection, scale: float, report: QualityReport) -> Face:
    from facegate.vision.types import Box

    box = detection.box
    return Face(
        box=Box(box.left / scale, box.top / scale, box.right / scale, box.bottom / scale),
        landmarks=(np.asarray(detection.landmarks, dtype=np.float32) / scale).astype(np.float32),
        score=detection.score,
        quality=report,
    )

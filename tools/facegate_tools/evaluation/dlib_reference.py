"""dlib's own face_recognition-style pipeline, as the reference facegate is measured against.

HOG detector with one upsample → the chosen face → 5-point shape predictor → ResNet descriptor
(``compute_face_descriptor``, no jitter); similarity = minus the Euclidean distance, default
threshold 0.6 (distance). Needs ``dlib-bin`` (a test/measurement dependency, never used by
the product).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from facegate.errors import ModelUnavailable
from facegate_tools.modelbuild import sources

DLIB_DEFAULT_DISTANCE = 0.6


class DlibPipeline:
    """The reference pipeline; ``describe(bytes)`` returns a raw 128-d descriptor or None."""

    def __init__(self, upsample: int = 1, pick: str = "largest") -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelUnavailable("dlib-bin is not installed (pip install 'facegate[dev]')") from exc
        self._dlib: Any = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(sources.dlib_model_file(sources.DLIB_SHAPE5_FILE)))
        self.recognizer = dlib.face_recognition_model_v1(str(sources.dlib_model_file(sources.DLIB_RESNET_FILE)))
        self.upsample = upsample
        self.pick = pick

    @staticmethod
    def load_rgb(data: bytes) -> npt.NDArray[np.uint8]:
        """Decode like face_recognition does (PIL, RGB), applying EXIF orientation."""
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))

    def detect(self, rgb: npt.NDArray[np.uint8]) -> Any:
        return self.detector(rgb, self.upsample)

    def choose(self, rects: Any, rgb: npt.NDArray[np.uint8]) -> Any:
        if self.pick == "center":
            cy, cx = rgb.shape[0] / 2, rgb.shape[1] / 2
            return min(rects, key=lambda r: (r.center().x - cx) ** 2 + (r.center().y - cy) ** 2)
        return max(rects, key=lambda r: r.area())

    def describe_rgb(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32] | None:
        rects = self.detect(rgb)
        if len(rects) == 0:
            return None
        shape = self.shape_predictor(rgb, self.choose(rects, rgb))
        return np.asarray(self.recognizer.compute_face_descriptor(rgb, shape), dtype=np.float32)

    def describe(self, data: bytes) -> npt.NDArray[np.float32] | None:
        """Raw (not normalised) descriptor of the chosen face, or None when HOG finds no face."""
        return self.describe_rgb(self.load_rgb(data))


def dlib_similarity(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Minus the Euclidean distance (so that higher means more alike, like cosine)."""
    return -float(np.linalg.norm(a - b))

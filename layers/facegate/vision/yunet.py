"""YuNet face detector (OpenCV Zoo, 2023mar) run with onnxruntime and decoded in numpy.

The network sees a BGR image, values 0-255, padded at the bottom and right with zeros to a multiple of
32 pixels. For each stride ``s`` in (8, 16, 32) it scores every cell of a ``(H/s, W/s)`` grid:
``cls`` and ``obj`` (the face score is ``sqrt(clip(cls) * clip(obj))``), ``bbox`` (centre offset in
cells and log size in strides) and ``kps`` (five landmarks as offsets in cells). Decoding, score
threshold and non-maximum suppression follow ``cv::FaceDetectorYN``; a parity test checks boxes and
landmarks against it.

Landmark order (image space): eye on the image's left (the person's right eye), eye on the image's
right, nose tip, mouth corner on the image's left, mouth corner on the image's right — the same order
as the ArcFace alignment template.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from facegate.errors import ModelUnavailable
from facegate.vision.onnx import open_session
from facegate.vision.types import Box, Detection, ImageArray

F32 = npt.NDArray[np.float32]

STRIDES: Final = (8, 16, 32)
DIVISOR: Final = 32
"""Input sides are padded up to a multiple of this."""
NMS_THRESHOLD: Final = 0.3
"""Intersection over union above which the weaker of two boxes is dropped (OpenCV's default)."""
TOP_K: Final = 5000
MAX_INPUT_SIDE: Final = 640
"""Images are scaled down (never up) so that their longer side is at most this before detection: the
network was trained at 640x640, and a face of 20 px in a 1600 px photo is still 8 px at this size."""
REFINE_FACE_PX: Final = 256
"""Landmark refinement: a face is cut again from the full image, scaled so that its box side is this many
pixels, and detected once more; its landmarks are the mean of both passes (two estimates at different
scales). Measured with SFace on east-asian-dev (TAR at FAR 1e-3, single-image pairs, flip averaging): one
pass 0.805, refined 0.875, mean of both 0.880; LFW dev best accuracy 99.4 / 99.2 / 99.4%
(``scripts/measure_engine_v2.py``, docs/measurements.md)."""
REFINE_CANVAS_PX: Final = 384
"""Side of the square cut for refinement: 1.5 box sides of context around the face."""
REFINE_SCORE: Final = 0.3
"""Score threshold of the refinement pass (the face is already known to be there)."""


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The network input size for an image: each side rounded up to a multiple of :data:`DIVISOR`."""
    return (-(-height // DIVISOR) * DIVISOR, -(-width // DIVISOR) * DIVISOR)


def to_input(bgr: ImageArray) -> F32:
    """(1, 3, H', W') float32 network input: BGR 0-255, zero-padded to multiples of 32."""
    height, width = bgr.shape[:2]
    pad_h, pad_w = padded_size(height, width)
    blob = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)
    blob[0, :, :height, :width] = bgr.transpose(2, 0, 1)
    return blob


def decode(outputs: dict[str, F32], pad_h: int, pad_w: int, score_threshold: float) -> tuple[F32, F32, F32]:
    """Boxes (N, 4: x, y, w, h), landmarks (N, 5, 2) and scores (N,) of every cell scoring at least
    ``score_threshold``, in input pixels (before NMS)."""
    boxes, landmarks, scores = [], [], []
    for stride in STRIDES:
        rows, cols = pad_h // stride, pad_w // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if keep.size == 0:
            continue
        col = (keep % cols).astype(np.float32)
        row = (keep // cols).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[keep]
        cx = (col + bbox[:, 0]) * stride
        cy = (row + bbox[:, 1]) * stride
        w = np.exp(bbox[:, 2]) * stride
        h = np.exp(bbox[:, 3]) * stride
        boxes.append(np.stack([cx - w / 2.0, cy - h / 2.0, w, h], axis=1))
        points = np.empty_like(kps)
        points[:, :, 0] = (kps[:, :, 0] + col[:, None]) * stride
        points[:, :, 1] = (kps[:, :, 1] + row[:, None]) * stride
        landmarks.append(points)
        scores.append(score[keep])
        del rows
    if not scores:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32)
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(landmarks).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
    )


def nms(boxes: F32, scores: F32, threshold: float = NMS_THRESHOLD, top_k: int = TOP_K) -> npt.NDArray[np.int64]:
    """Indices kept by greedy non-maximum suppression, best score first.

    As ``cv::dnn::NMSBoxes`` on integer rectangles: boxes are truncated to whole pixels and overlap
    is ``intersection / union`` of their areas ``w * h``.
    """
    order = np.argsort(-scores, kind="stable")[:top_k]
    rects = np.trunc(boxes[order]).astype(np.float64)
    x1, y1 = rects[:, 0], rects[:, 1]
    x2, y2 = x1 + rects[:, 2], y1 + rects[:, 3]
    areas = rects[:, 2] * rects[:, 3]
    kept: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(int(order[i]))
        inter_w = np.clip(np.minimum(x2[i], x2) - np.maximum(x1[i], x1), 0.0, None)
        inter_h = np.clip(np.minimum(y2[i], y2) - np.maximum(y1[i], y1), 0.0, None)
        inter = inter_w * inter_h
        union = areas[i] + areas - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 1.0)
        suppressed |= overlap > threshold
    return np.asarray(kept, dtype=np.int64)


class YuNetDetector:
    """One onnxruntime session over ``yunet_fp32.onnx``.

    Args:
        model_path: the folded YuNet file built by ``facegate model build``.
        threads: intra-op threads.

    Raises:
        ModelUnavailable: missing file, or not a YuNet graph.
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session: Any = open_session(model_path, threads, "detector")
        (model_input,) = self._session.get_inputs()
        self.input_name: str = model_input.name
        self.output_names: list[str] = [output.name for output in self._session.get_outputs()]
        expected = {f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in STRIDES}
        if set(self.output_names) != expected:
            raise ModelUnavailable(f"{model_path.name} is not a YuNet detector (outputs {self.output_names})")

    def run(self, bgr: ImageArray, score_threshold: float) -> tuple[F32, F32, F32]:
        """Raw detections on a BGR image at its own size (boxes x, y, w, h; landmarks; scores), after NMS,
        best first. This is exactly what ``cv2.FaceDetectorYN.detect`` computes for the same image."""
        pad_h, pad_w = padded_size(*bgr.shape[:2])
        values = self._session.run(self.output_names, {self.input_name: to_input(bgr)})
        outputs = dict(zip(self.output_names, values, strict=True))
        boxes, landmarks, scores = decode(outputs, pad_h, pad_w, score_threshold)
        keep = nms(boxes, scores)
        return boxes[keep], landmarks[keep], scores[keep]

    def detect(
        self, rgb: ImageArray, min_face_px: float = 20.0, score_threshold: float = 0.6, refine: bool = False
    ) -> list[Detection]:
        """Faces of an RGB image, in its pixels, best score first.

        Args:
            rgb: uint8 (H, W, 3).
            min_face_px: boxes whose larger side is smaller than this (image pixels) are dropped.
            score_threshold: minimum face score in [0, 1].
            refine: re-detect each face at :data:`REFINE_FACE_PX` for precise landmarks
                (:meth:`refine`); box and score stay those of the first pass.
        """
        height, width = rgb.shape[:2]
        if height == 0 or width == 0:
            return []
        scale = min(1.0, MAX_INPUT_SIDE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=None))
        else:
            small = rgb
        boxes, landmarks, scores = self.run(np.ascontiguousarray(small[:, :, ::-1]), score_threshold)
        sx = width / small.shape[1]
        sy = height / small.shape[0]
        detections = []
        for box, points, score in zip(boxes, landmarks, scores, strict=True):
            x, y, w, h = (float(box[0]) * sx, float(box[1]) * sy, float(box[2]) * sx, float(box[3]) * sy)
            if max(w, h) < min_face_px:
                continue
            scaled = (points * np.array([sx, sy], dtype=np.float32)).astype(np.float32)
            detection = Detection(box=Box(x, y, x + w, y + h), landmarks=scaled, score=float(score))
            detections.append(self.refine(rgb, detection) if refine else detection)
        return detections

    def refine(self, rgb: ImageArray, detection: Detection) -> Detection:
        """The same face with landmarks from a second pass on a :data:`REFINE_CANVAS_PX` square cut around it,
        scaled so the face box is :data:`REFINE_FACE_PX` wide (black outside the image). If the second pass
        finds no face near the centre, the first pass's landmarks are kept."""
        side = max(detection.box.width, detection.box.height, 1.0)
        scale = REFINE_FACE_PX / side
        inverse = 1.0 / scale
        cx, cy = detection.box.center
        half = REFINE_CANVAS_PX / 2.0
        # Pixel-edge coordinates: canvas edge u is image edge origin + u / scale.
        origin_x, origin_y = cx - half * inverse, cy - half * inverse
        height, width = rgb.shape[:2]
        u0 = max(0, math.ceil(-origin_x * scale))
        v0 = max(0, math.ceil(-origin_y * scale))
        u1 = min(REFINE_CANVAS_PX, math.floor((width - origin_x) * scale))
        v1 = min(REFINE_CANVAS_PX, math.floor((height - origin_y) * scale))
        if u1 - u0 < 2 or v1 - v0 < 2:
            return detection
        box = (origin_x + u0 * inverse, origin_y + v0 * inverse, origin_x + u1 * inverse, origin_y + v1 * inverse)
        region = Image.fromarray(rgb).resize((u1 - u0, v1 - v0), Image.Resampling.BILINEAR, box=box)
        canvas = np.zeros((REFINE_CANVAS_PX, REFINE_CANVAS_PX, 3), dtype=np.uint8)
        canvas[v0:v1, u0:u1] = np.asarray(region)[:, :, ::-1]
        bgr = canvas
        boxes, landmarks, _ = self.run(bgr, REFINE_SCORE)
        if len(boxes) == 0:
            return detection
        centres = boxes[:, :2] + boxes[:, 2:] / 2.0
        nearest = int(np.argmin(np.sum((centres - half) ** 2, axis=1)))
        if np.hypot(*(centres[nearest] - half)) > REFINE_FACE_PX / 2.0:
            return detection
        # Landmarks are pixel-centre coordinates (centre of pixel i at i): edge = centre + 0.5.
        points = (landmarks[nearest].astype(np.float64) + 0.5) * inverse + np.array([origin_x, origin_y]) - 0.5
        averaged = (points + np.asarray(detection.landmarks, dtype=np.float64)) / 2.0
        return Detection(box=detection.box, landmarks=averaged.astype(np.float32), score=detection.score)

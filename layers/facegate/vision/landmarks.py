"""dlib's cascaded regression-tree shape predictor, run with numpy.

The arrays come from :func:`facegate.modelbuild.dlib_shape_predictor.convert_shape_predictor`.
The arithmetic follows ``dlib::shape_predictor::operator()`` (dlib/image_processing/
shape_predictor.h) step by step, in the same precisions (float32 shape, double similarity
transform), so that given the same rectangle the landmarks are the integers dlib returns.
All trees of one cascade level are evaluated together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.vision.types import Box, ImageArray

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]


def box_to_dlib_rect(box: Box) -> tuple[int, int, int, int]:
    """A :class:`Box` (right/bottom exclusive) as dlib's integer rectangle (right/bottom inclusive).

    Each side is rounded half up, then right and bottom move in by one pixel: the dlib
    rectangle ``(l, t, r, b)`` corresponds to ``Box(l, t, r + 1, b + 1)``.
    """
    left = int(np.floor(box.left + 0.5))
    top = int(np.floor(box.top + 0.5))
    right = int(np.floor(box.right + 0.5)) - 1
    bottom = int(np.floor(box.bottom + 0.5)) - 1
    return left, top, right, bottom


def similarity_matrix(src: F64, dst: F64) -> F64:
    """2x2 part of the least-squares similarity transform (rotation and scale) taking ``src`` to ``dst``.

    Args:
        src, dst: (N, 2) point sets, N >= 2.

    Returns:
        float64 [[a, -b], [b, a]].
    """
    src_c = src - src.mean(axis=0)
    dst_c = dst - dst.mean(axis=0)
    norm = float(np.sum(src_c * src_c))
    if norm == 0.0:
        return np.eye(2)
    a = float(np.sum(src_c * dst_c)) / norm
    b = float(np.sum(src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0])) / norm
    return np.array([[a, -b], [b, a]])


@dataclass(frozen=True, slots=True)
class ShapePredictor:
    """A loaded cascade (see the array list in :mod:`facegate.modelbuild.dlib_shape_predictor`)."""

    initial_shape: F32
    split_idx: I32
    split_thresh: F32
    leaf_values: F32
    anchor_idx: I32
    deltas: F32

    @classmethod
    def load(cls, npz: Path) -> ShapePredictor:
        """Load converted arrays.

        Raises:
            ModelUnavailable: the file is missing or inconsistent.
        """
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {name: np.ascontiguousarray(data[name]) for name in data.files}
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load shape predictor {npz.name}") from exc
        try:
            predictor = cls(
                initial_shape=arrays["initial_shape"].astype(np.float32),
                split_idx=arrays["split_idx"].astype(np.int32),
                split_thresh=arrays["split_thresh"].astype(np.float32),
                leaf_values=arrays["leaf_values"].astype(np.float32),
                anchor_idx=arrays["anchor_idx"].astype(np.int32),
                deltas=arrays["deltas"].astype(np.float32),
            )
        except KeyError as exc:
            raise ModelUnavailable(f"{npz.name} lacks array {exc}") from exc
        levels, trees, splits = predictor.split_thresh.shape
        parts = predictor.initial_shape.shape[0]
        if (
            predictor.split_idx.shape != (levels, trees, splits, 2)
            or predictor.leaf_values.shape != (levels, trees, splits + 1, parts, 2)
            or predictor.anchor_idx.shape[0] != levels
            or predictor.deltas.shape != (*predictor.anchor_idx.shape, 2)
        ):
            raise ModelUnavailable(f"{npz.name}: inconsistent array shapes")
        if (splits + 1) & splits:
            raise ModelUnavailable(f"{npz.name}: trees are not complete binary trees")
        return predictor

    @property
    def num_parts(self) -> int:
        return int(self.initial_shape.shape[0])

    def predict(self, rgb: ImageArray, box: Box) -> F64:
        """Landmarks of the face in ``box``.

        Args:
            rgb: uint8 (H, W, 3) RGB image.
            box: face rectangle, converted with :func:`box_to_dlib_rect` (dlib's detector rect
                ``(l, t, r, b)`` is ``Box(l, t, r + 1, b + 1)``).

        Returns:
            float64 (P, 2) landmark (x, y) pixels, integer-valued as dlib rounds them. For the
            5-point model: outer and inner corner of the eye on the image's right, outer and
            inner corner of the eye on the image's left, bottom of the nose.
        """
        left, top, right, bottom = box_to_dlib_rect(box)
        origin = np.array([left, top], dtype=np.float64)
        extent = np.array([right - left, bottom - top], dtype=np.float64)
        height, width = rgb.shape[:2]
        levels, n_trees, n_splits = self.split_thresh.shape
        n_leaves = n_splits + 1
        depth = n_leaves.bit_length() - 1
        tree_base = np.arange(n_trees, dtype=np.int64) * n_splits
        leaf_base = np.arange(n_trees, dtype=np.int64) * n_leaves - n_splits
        reference = self.initial_shape.astype(np.float64)
        shape = self.initial_shape.copy()
        for level in range(levels):
            matrix = similarity_matrix(reference, shape.astype(np.float64)).astype(np.float32)
            deltas = self.deltas[level]
            offsets = deltas[:, 0:1] * matrix[:, 0] + deltas[:, 1:2] * matrix[:, 1]
            points = offsets + shape[self.anchor_idx[level]]
            pixels = np.floor(origin + points.astype(np.float64) * extent + 0.5).astype(np.int64)
            features = _intensities(rgb, pixels, width, height)

            first = self.split_idx[level, :, :, 0].ravel()
            second = self.split_idx[level, :, :, 1].ravel()
            differences = features[first] - features[second]
            passes = differences > self.split_thresh[level].ravel()
            node = np.zeros(n_trees, dtype=np.int64)
            for _ in range(depth):
                node = 2 * node + 2 - passes[tree_base + node]
            leaves = self.leaf_values[level].reshape(n_trees * n_leaves, -1)[leaf_base + node]
            stacked = np.concatenate([shape.reshape(1, -1), leaves], axis=0)
            shape = np.cumsum(stacked, axis=0, dtype=np.float32)[-1].reshape(-1, 2)
        return np.floor(origin + shape.astype(np.float64) * extent + 0.5)


def _intensities(rgb: ImageArray, pixels: npt.NDArray[np.int64], width: int, height: int) -> F32:
    """dlib's grey level ``(R + G + B) // 3`` at integer pixels; 0 outside the image."""
    xs, ys = pixels[:, 0], pixels[:, 1]
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    values = rgb[np.where(inside, ys, 0), np.where(inside, xs, 0)].astype(np.int32).sum(axis=1) // 3
    return np.where(inside, values, 0).astype(np.float32)

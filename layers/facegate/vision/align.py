"""Alignment of a detected face: the embedder's ArcFace chip and the quality chip.

- :func:`arcface_chip`: what SFace takes — a least-squares similarity transform of the five landmarks
  to the standard ArcFace 112x112 template, then a bilinear warp that reproduces
  ``cv2.warpAffine`` (``cv2.FaceRecognizerSF.alignCrop`` is the reference in the parity tests).
- :func:`align_face`: a 150x150 chip in dlib's ``get_face_chip(img, shape5, 150, 0.25)`` geometry
  (``get_face_chip_details``, ``pyramid_down<2>`` levels, then bilinear sampling, from
  dlib/image_transforms/interpolation.h), reached by fitting the five landmarks to a calibrated
  template. The quality measures (sharpness, exposure, a covered lower face) are calibrated on it.

Chip coordinates of the dlib geometry: the similarity transform of ``get_face_chip_details`` maps
*template coordinates* (unit face box, padded, times the chip size) to image pixels; the chip's pixel
``c`` samples template coordinate ``75 + (c - 74.5) * (150 * s - 1) / (149 * s)`` for an image
scale of ``s`` pixels per chip unit (about ``c + 0.5``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from facegate.vision.types import Detection, ImageArray

F64 = npt.NDArray[np.float64]

CHIP_SIZE: Final = 150
"""Side of the aligned chip in pixels (what the embedder takes)."""
CHIP_PADDING: Final = 0.25
"""Border added around dlib's unit face template, as a fraction of its side."""

ROUTE_TEMPLATE: Final = "mtcnn_template"
ROUTES: Final = (ROUTE_TEMPLATE,)


def _frozen(values: list[float] | list[list[float]]) -> F64:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


DLIB_TEMPLATE_5: Final = _frozen(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
"""dlib's 5-point template on the unpadded unit face box (``get_face_chip_details``), in the
order of ``shape_predictor_5_face_landmarks``: outer and inner corner of the eye on the image's
right, outer and inner corner of the eye on the image's left, bottom of the nose."""

MTCNN_TEMPLATE: Final = _frozen(
    [
        [47.99, 44.74],
        [102.06, 44.62],
        [75.03, 78.90],
        [49.68, 105.27],
        [99.33, 105.13],
    ]
)
"""Route 1: where MTCNN's five landmarks (left eye, right eye, nose tip, left and right mouth
corner) fall in dlib's 150x150 / 0.25 chip, in template coordinates: the mean over calibration
faces of the MTCNN landmarks mapped through dlib's own chip transform.

Calibrated by ``scripts/calibrate_alignment.py`` against dlib-bin 20.0.1 on the photos of
:data:`facegate_tools.modelbuild.sources.CALIBRATION_SDISTS` (none in LFW or east-asian-dev): 212
matched faces from 6 distinct photos (11 faces; dlib finds none on the two masked photos),
each photo also mirrored, rescaled and rotated by +-8 degrees."""

MTCNN_WEIGHTS: Final = _frozen([1.0, 1.0, 0.3, 0.0, 0.0])
"""Route 1: weight of each MTCNN landmark in the similarity fit. Chosen with the template by
leave-one-photo-out error of the chip corners against dlib's chip: mean 3.8 chip pixels with
these weights, 7.6 with equal weights (mouth corners move with expression and pose, and dlib's
own alignment uses only the eyes and the nose)."""

_DOWN_OFFSET = np.array([1.25, 0.75])


@dataclass(frozen=True, slots=True)
class ChipGeometry:
    """Where a chip is cut from the image: dlib's ``chip_details``.

    Attributes:
        left, top, right, bottom: the unrotated source rectangle in image pixels (dlib
            ``drectangle``: right - left + 1 is its width, ``size`` times ``scale``).
        angle: rotation of the rectangle about its centre, radians; positive turns the x axis
            toward +y (clockwise on screen, since y points down).
        size: chip side in pixels.
    """

    left: float
    top: float
    right: float
    bottom: float
    angle: float
    size: int = CHIP_SIZE

    @property
    def scale(self) -> float:
        """Image pixels per chip pixel (about)."""
        return (self.right - self.left + 1.0) / self.size

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0

    def corners(self) -> F64:
        """(4, 2) image positions of the chip's top-left, top-right, bottom-left, bottom-right pixels."""
        return _rotated_corners(np.array([self.left, self.top, self.right, self.bottom]), self.angle)


def similarity_transform(src: F64, dst: F64, weights: F64 | None = None) -> F64:
    """Weighted least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Args:
        src, dst: (N, 2) corresponding points, N >= 2.
        weights: (N,) non-negative point weights (default: all equal); at least two points
            with positive weight must be distinct.

    Returns:
        float64 (2, 3) matrix ``A`` with ``dst ~ src @ A[:, :2].T + A[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    src_mean = w @ src
    dst_mean = w @ dst
    src_c = src - src_mean
    dst_c = dst - dst_mean
    norm = float(w @ np.sum(src_c * src_c, axis=1))
    if norm == 0.0:
        raise ValueError("similarity_transform needs at least two distinct source points")
    a = float(w @ np.sum(src_c * dst_c, axis=1)) / norm
    b = float(w @ (src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0])) / norm
    matrix = np.array([[a, -b], [b, a]])
    return np.hstack([matrix, (dst_mean - matrix @ src_mean)[:, None]])


def apply_transform(transform: F64, points: F64) -> F64:
    """Apply a (2, 3) affine transform to (N, 2) points."""
    return np.asarray(points, dtype=np.float64) @ transform[:, :2].T + transform[:, 2]


def invert_transform(transform: F64) -> F64:
    """Inverse of a (2, 3) affine transform."""
    inverse = np.linalg.inv(transform[:, :2])
    return np.hstack([inverse, -(inverse @ transform[:, 2])[:, None]])


def chip_geometry_from_points(
    chip_points: F64, image_points: F64, size: int = CHIP_SIZE, weights: F64 | None = None
) -> ChipGeometry:
    """dlib's ``chip_details(chip_points, img_points, chip_dims(size, size))``.

    Args:
        chip_points: (N, 2) template coordinates (0 to ``size``).
        image_points: (N, 2) the same points in image pixels.
        size: chip side in pixels.
        weights: optional (N,) point weights of the similarity fit (dlib: all equal).
    """
    transform = similarity_transform(chip_points, image_points, weights)
    angle = math.atan2(transform[1, 0], transform[0, 0])
    scale = math.hypot(transform[0, 0], transform[1, 0])
    cx, cy = apply_transform(transform, np.array([[size / 2.0, size / 2.0]]))[0]
    half = (size * scale - 1.0) / 2.0
    return ChipGeometry(cx - half, cy - half, cx + half, cy + half, angle, size)


def dlib_template_points(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> F64:
    """dlib's 5-point template in template coordinates of a ``size`` chip with ``padding``."""
    return np.asarray((padding + DLIB_TEMPLATE_5) / (2.0 * padding + 1.0) * size, dtype=np.float64)


def dlib_chip_geometry(shape5: F64, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> ChipGeometry:
    """dlib's ``get_face_chip_details`` for a 5-point shape (points in dlib's part order)."""
    return chip_geometry_from_points(dlib_template_points(size, padding), shape5, size)


def template_chip_geometry(
    landmarks: F64, template: F64 = MTCNN_TEMPLATE, weights: F64 = MTCNN_WEIGHTS
) -> ChipGeometry:
    """Route 1: chip geometry from MTCNN's five landmarks (image pixels) fitted to a template."""
    return chip_geometry_from_points(template, landmarks, CHIP_SIZE, weights)


def pyramid_down2(rgb: ImageArray) -> ImageArray:
    """dlib's ``pyramid_down<2>`` on an RGB image: 5-tap [1 4 6 4 1] blur, keep every other pixel.

    Args:
        rgb: uint8 (H, W, 3).

    Returns:
        uint8 ((H - 3) // 2, (W - 3) // 2, 3), integer arithmetic truncated like dlib's; empty
        when a side is 8 pixels or less. Output pixel (r, c) is centred on input (2c + 2, 2r + 2);
        dlib maps points with ``p / 2 - (1.25, 0.75)``.
    """
    height, width = rgb.shape[:2]
    if height <= 8 or width <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    cols = (width - 3) // 2
    rows = (height - 3) // 2
    src = rgb.astype(np.int32)
    horizontal = (
        src[:, 0 : 2 * cols : 2]
        + 4 * src[:, 1 : 2 * cols + 1 : 2]
        + 6 * src[:, 2 : 2 * cols + 2 : 2]
        + 4 * src[:, 3 : 2 * cols + 3 : 2]
        + src[:, 4 : 2 * cols + 4 : 2]
    )
    vertical = (
        horizontal[0 : 2 * rows : 2]
        + 4 * horizontal[1 : 2 * rows + 1 : 2]
        + 6 * horizontal[2 : 2 * rows + 2 : 2]
        + 4 * horizontal[3 : 2 * rows + 3 : 2]
        + horizontal[4 : 2 * rows + 4 : 2]
    )
    out: ImageArray = (vertical // 256).astype(np.uint8)
    return out


def _rect_down(rect: F64) -> F64:
    return np.concatenate([rect[:2] / 2.0 - _DOWN_OFFSET, rect[2:] / 2.0 - _DOWN_OFFSET])


def _rect_area(rect: F64) -> float:
    if rect[0] > rect[2] or rect[1] > rect[3]:
        return 0.0
    return float((rect[2] - rect[0] + 1.0) * (rect[3] - rect[1] + 1.0))


def _rotated_corners(rect: F64, angle: float) -> F64:
    """Top-left, top-right, bottom-left, bottom-right corners rotated by ``angle`` about the centre."""
    left, top, right, bottom = rect
    centre = np.array([(left + right) / 2.0, (top + bottom) / 2.0])
    corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]]) - centre
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rotated: F64 = corners @ rotation.T + centre
    return rotated


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def extract_chip(rgb: ImageArray, geometry: ChipGeometry) -> ImageArray:
    """Cut a chip exactly as dlib's ``extract_image_chip`` with bilinear interpolation.

    When the source rectangle is more than about twice the chip size, the image (cropped to the
    rotated rectangle plus a margin) is first reduced with :func:`pyramid_down2` until one more
    level would make it smaller than the chip; the chip is then sampled bilinearly from that
    level. Samples whose 2x2 neighbourhood is not inside the source are black.

    Args:
        rgb: uint8 (H, W, 3) RGB image.
        geometry: where to cut (see :func:`dlib_chip_geometry`, :func:`template_chip_geometry`).

    Returns:
        uint8 (size, size, 3) RGB chip.
    """
    size = geometry.size
    chip_area = float(size * size)
    rect = np.array([geometry.left, geometry.top, geometry.right, geometry.bottom])
    height, width = rgb.shape[:2]

    grow = 2.0
    down = _rect_down(rect)
    while _rect_area(down) > chip_area:
        down = _rect_down(down)
        grow = grow * 2.0 + 2.0
    corners = _rotated_corners(rect, geometry.angle)
    bounds = np.array(
        [
            max(corners[:, 0].min() - grow, 0.0),
            max(corners[:, 1].min() - grow, 0.0),
            min(corners[:, 0].max() + grow, width - 1.0),
            min(corners[:, 1].max() + grow, height - 1.0),
        ]
    )
    box_left, box_top, box_right, box_bottom = (_round_half_up(v) for v in bounds)
    if box_left > box_right or box_top > box_bottom:
        return np.zeros((size, size, 3), dtype=np.uint8)
    source = rgb[box_top : box_bottom + 1, box_left : box_right + 1]

    local = rect - np.array([box_left, box_top, box_left, box_top], dtype=np.float64)
    while _rect_area(_rect_down(local)) > chip_area:
        source = pyramid_down2(source)
        local = _rect_down(local)

    top_left, top_right, bottom_left, _ = _rotated_corners(local, geometry.angle)
    steps = np.arange(size, dtype=np.float64) / (size - 1)
    xs = top_left[0] + steps[None, :] * (top_right[0] - top_left[0]) + steps[:, None] * (bottom_left[0] - top_left[0])
    ys = top_left[1] + steps[None, :] * (top_right[1] - top_left[1]) + steps[:, None] * (bottom_left[1] - top_left[1])
    return bilinear_sample(source, xs, ys)


def bilinear_sample(image: ImageArray, xs: F64, ys: F64) -> ImageArray:
    """dlib's ``interpolate_bilinear`` at many points, black where the 2x2 neighbourhood leaves the image.

    Args:
        image: uint8 (H, W, 3).
        xs, ys: float64 arrays of one shape, pixel coordinates (pixel centres at integers).

    Returns:
        uint8 array of shape ``xs.shape + (3,)``; values truncated toward zero like dlib.
    """
    height, width = image.shape[:2]
    left = np.floor(xs)
    top = np.floor(ys)
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    col = np.where(inside, left, 0).astype(np.int64)
    row = np.where(inside, top, 0).astype(np.int64)
    lr = (xs - left).astype(np.float32)[..., None]
    tb = (ys - top).astype(np.float32)[..., None]
    if image.size == 0:
        return np.zeros((*xs.shape, 3), dtype=np.uint8)
    img = image
    tl = img[row, col]
    tr = img[row, np.minimum(col + 1, width - 1)]
    bl = img[np.minimum(row + 1, height - 1), col]
    br = img[np.minimum(row + 1, height - 1), np.minimum(col + 1, width - 1)]
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    value = np.where(inside[..., None], np.clip(value, 0.0, 255.0), 0.0)
    sampled: ImageArray = value.astype(np.uint8)
    return sampled


def face_chip_geometry(rgb: ImageArray, detection: Detection, route: str = ROUTE_TEMPLATE) -> ChipGeometry:
    """Chip geometry (dlib's 150x150, padding 0.25) of a detected face: its five landmarks fitted to
    :data:`MTCNN_TEMPLATE`.

    Raises:
        ValueError: unknown route.
    """
    if route != ROUTE_TEMPLATE:
        raise ValueError(f"unknown alignment route {route!r}; expected one of {ROUTES}")
    return template_chip_geometry(np.asarray(detection.landmarks, dtype=np.float64))


def align_face(rgb: ImageArray, detection: Detection, route: str = ROUTE_TEMPLATE) -> ImageArray:
    """The 150x150 quality chip of a detected face (dlib's chip geometry, pyramid and bilinear sampling).

    Args:
        rgb: uint8 (H, W, 3) RGB image the detection was made on.
        detection: a detection with five landmarks.
        route: :data:`ROUTE_TEMPLATE`.

    Returns:
        uint8 (150, 150, 3) RGB chip.
    """
    return extract_chip(rgb, face_chip_geometry(rgb, detection, route))


ARCFACE_CHIP_SIZE: Final = 112
"""Side of the ArcFace-aligned chip that SFace takes."""
ARCFACE_TEMPLATE_5: Final = _frozen(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)
"""The standard 5-point ArcFace template in 112x112 chip pixels (pixel centres at integers): eye on the
image's left, eye on the image's right, nose tip, mouth corners left and right — YuNet's order."""


def arcface_transform(landmarks: F64) -> F64:
    """(2, 3) least-squares similarity transform taking the five image landmarks to the ArcFace template."""
    return similarity_transform(np.asarray(landmarks, dtype=np.float64), ARCFACE_TEMPLATE_5)


_SUBPIXELS: Final = 32.0


def warp_affine_bilinear(image: ImageArray, transform: F64, size: int) -> ImageArray:
    """Bilinear warp of ``image`` into a ``size`` x ``size`` chip, like ``cv2.warpAffine(image, transform,
    (size, size), INTER_LINEAR, BORDER_CONSTANT 0)``: chip pixel (x, y) samples the image at
    ``transform^-1 (x, y)`` rounded to 1/32 pixel (OpenCV's ``INTER_BITS``), pixels outside the image
    count as black, values rounded to nearest."""
    inverse = invert_transform(transform)
    grid = np.arange(size, dtype=np.float64)
    xs = inverse[0, 0] * grid[None, :] + inverse[0, 1] * grid[:, None] + inverse[0, 2]
    ys = inverse[1, 0] * grid[None, :] + inverse[1, 1] * grid[:, None] + inverse[1, 2]
    height, width = image.shape[:2]
    padded = np.zeros((height + 2, width + 2, 3), dtype=np.float32)
    padded[1:-1, 1:-1] = image
    xs = np.rint(xs * _SUBPIXELS) / _SUBPIXELS + 1.0
    ys = np.rint(ys * _SUBPIXELS) / _SUBPIXELS + 1.0
    left = np.floor(xs)
    top = np.floor(ys)
    inside = (left >= 0) & (top >= 0) & (left + 1 <= width + 1) & (top + 1 <= height + 1)
    col = np.where(inside, left, 0).astype(np.int64)
    row = np.where(inside, top, 0).astype(np.int64)
    fx = (xs - left).astype(np.float32)[..., None]
    fy = (ys - top).astype(np.float32)[..., None]
    col1 = np.minimum(col + 1, width + 1)
    row1 = np.minimum(row + 1, height + 1)
    value = (1 - fy) * ((1 - fx) * padded[row, col] + fx * padded[row, col1]) + fy * (
        (1 - fx) * padded[row1, col] + fx * padded[row1, col1]
    )
    value = np.where(inside[..., None], value, 0.0)
    chip: ImageArray = np.clip(np.rint(value), 0, 255).astype(np.uint8)
    return chip


def arcface_chip(rgb: ImageArray, landmarks: F64) -> ImageArray:
    """The 112x112 ArcFace-aligned chip of a face given its five landmarks (image pixels, YuNet order)."""
    return warp_affine_bilinear(rgb, arcface_transform(landmarks), ARCFACE_CHIP_SIZE)

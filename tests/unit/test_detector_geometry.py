"""Pure geometry of the face pipeline: MTCNN box helpers (evaluation detector), area resampling, chip
extraction, the ArcFace chip and YuNet decoding (synthetic data only)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from facegate.vision import align
from facegate.vision.types import Box, Detection
from facegate_tools.evaluation.mtcnn_detector import (
    crop_resize,
    nms,
    pnet_candidates,
    pyramid_scales,
    regress_boxes,
    resize_area,
    square_boxes,
    summed_area_table,
)

# --------------------------------------------------------------------------------------------
# MTCNN box helpers


def test_pyramid_scales_stop_when_the_image_gets_smaller_than_the_pnet_window() -> None:
    # Given a 250x400 image and a 20 px minimum face
    # When the pyramid is planned
    scales = pyramid_scales(250, 400, 20.0)
    # Then it starts at 12/20, shrinks by 0.709 and its last level is still >= 12 px
    assert scales[0] == pytest.approx(0.6)
    assert all(b / a == pytest.approx(0.709) for a, b in itertools.pairwise(scales))
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709


def test_pyramid_scales_are_empty_for_images_smaller_than_the_minimum_face() -> None:
    # Given an image smaller than the smallest face searched for
    # When / Then there is nothing to scan
    assert pyramid_scales(30, 30, 40.0) == []
    with pytest.raises(ValueError, match="positive"):
        pyramid_scales(30, 30, 0.0)


def test_nms_union_keeps_the_best_of_overlapping_boxes_in_score_order() -> None:
    # Given two heavily overlapping boxes and a separate one
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 59, 59]], dtype=np.float64)
    scores = np.array([0.8, 0.9, 0.7])
    # When suppressing at IoU 0.5
    keep = nms(boxes, scores, 0.5, "union")
    # Then the higher-scored overlapping box and the separate box survive, best first
    assert keep.tolist() == [1, 2]


def test_nms_min_mode_drops_a_box_nested_in_a_better_one() -> None:
    # Given a small box inside a large, better-scored box (IoU small, overlap/min = 1)
    boxes = np.array([[0, 0, 99, 99], [10, 10, 19, 19]], dtype=np.float64)
    scores = np.array([0.9, 0.8])
    # When / Then union keeps both, min drops the nested one
    assert nms(boxes, scores, 0.7, "union").tolist() == [0, 1]
    assert nms(boxes, scores, 0.7, "min").tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_regress_boxes_scales_offsets_by_box_size() -> None:
    # Given a 10x20 (inclusive) box and offsets
    boxes = np.array([[10.0, 20.0, 19.0, 39.0]])
    offsets = np.array([[0.1, -0.05, 0.2, 0.5]])
    # When regressing with inclusive (R/O-Net) and exclusive (P-Net) widths
    inclusive = regress_boxes(boxes, offsets)
    exclusive = regress_boxes(boxes, offsets, inclusive=False)
    # Then the offsets are fractions of 10x20 and 9x19 respectively
    assert np.allclose(inclusive, [[11.0, 19.0, 21.0, 49.0]])
    assert np.allclose(exclusive, [[10.9, 19.05, 20.8, 48.5]])


def test_square_boxes_keep_the_centre_and_take_the_longer_side() -> None:
    # Given a wide and a tall box
    boxes = np.array([[0.0, 0.0, 40.0, 20.0], [10.0, 0.0, 20.0, 30.0]])
    # When squaring
    squared = square_boxes(boxes)
    # Then both are square with the original centres
    sides = squared[:, 2:] - squared[:, :2]
    assert np.allclose(sides[:, 0], sides[:, 1])
    assert np.allclose((squared[:, :2] + squared[:, 2:]) / 2, (boxes[:, :2] + boxes[:, 2:]) / 2)
    assert sides[:, 0].tolist() == [40.0, 30.0]


def test_pnet_candidates_map_cells_back_to_image_boxes() -> None:
    # Given a P-Net map with one confident cell at row 3, column 5, at scale 0.5
    prob = np.zeros((8, 10), dtype=np.float32)
    prob[3, 5] = 0.95
    offsets = np.zeros((8, 10, 4), dtype=np.float32)
    offsets[3, 5] = [0.1, 0.2, 0.3, 0.4]
    # When extracting candidates
    boxes, scores, regression = pnet_candidates(prob, offsets, 0.5, 0.6)
    # Then the 12x12 window at stride 2 maps to a 24x24 box (1-based corners) at x = 2*5*2
    assert boxes.tolist() == [[22.0, 14.0, 44.0, 36.0]]
    assert scores.tolist() == pytest.approx([0.95])
    assert np.allclose(regression, [[0.1, 0.2, 0.3, 0.4]])


# --------------------------------------------------------------------------------------------
# Area resampling


def _naive_area_resample(
    image: np.ndarray, edges: tuple[float, float, float, float], out_h: int, out_w: int
) -> np.ndarray:
    """Reference: integrate each output cell exactly with per-pixel overlaps (zero outside)."""
    left, top, right, bottom = edges
    height, width = image.shape[:2]
    out = np.zeros((out_h, out_w, image.shape[2]))
    step_x, step_y = (right - left) / out_w, (bottom - top) / out_h
    for r in range(out_h):
        y0, y1 = top + r * step_y, top + (r + 1) * step_y
        wy = np.clip(np.minimum(y1, np.arange(1, height + 1)) - np.maximum(y0, np.arange(height)), 0, None)
        for c in range(out_w):
            x0, x1 = left + c * step_x, left + (c + 1) * step_x
            wx = np.clip(np.minimum(x1, np.arange(1, width + 1)) - np.maximum(x0, np.arange(width)), 0, None)
            out[r, c] = np.einsum("y,x,yxc->c", wy, wx, image) / (step_x * step_y)
    return out


def test_crop_resize_matches_exact_area_averaging_even_outside_the_image() -> None:
    # Given a random image and fractional boxes, one reaching past the borders
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(23, 31, 3), dtype=np.uint8)
    edges = np.array([[2.5, 3.25, 20.0, 19.5], [-4.0, -2.0, 35.0, 30.0], [10.0, 10.0, 13.0, 14.0]])
    # When resampling them all at once
    crops = crop_resize(summed_area_table(image), edges, 6, 5)
    # Then each matches the exact per-cell integral (upsampling included)
    for crop, box in zip(crops, edges, strict=True):
        assert np.allclose(crop, _naive_area_resample(image.astype(np.float64), tuple(box), 6, 5), atol=1e-3)


def test_crop_resize_can_emit_transposed_crops_for_the_networks() -> None:
    # Given a random image and two boxes
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    table = summed_area_table(image)
    edges = np.array([[1.0, 2.0, 25.0, 29.0], [10.0, 0.0, 40.0, 18.0]])
    # When resampling in both layouts
    normal = crop_resize(table, edges, 7, 5)
    transposed = crop_resize(table, edges, 7, 5, transposed=True)
    # Then the transposed layout is (N, x, y, C) of the same values
    assert transposed.shape == (2, 5, 7, 3)
    assert np.allclose(transposed, normal.transpose(0, 2, 1, 3), atol=1e-4)


def test_resize_area_matches_crop_resize_of_the_whole_image() -> None:
    # Given a random image
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(40, 57, 3), dtype=np.uint8)
    table = summed_area_table(image)
    # When resizing the whole image both ways
    whole = resize_area(table, 17, 24)
    reference = crop_resize(table, np.array([[0.0, 0.0, 57.0, 40.0]]), 17, 24)[0]
    # Then they agree, and a constant image stays constant
    assert whole.shape == (17, 24, 3)
    assert np.allclose(whole, reference, atol=1e-3)
    flat = np.full((30, 30, 3), 77, dtype=np.uint8)
    assert np.allclose(resize_area(summed_area_table(flat), 13, 11), 77.0)


def test_summed_area_table_holds_prefix_sums() -> None:
    # Given a small image
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    # When building the table
    table = summed_area_table(image)
    # Then table[y, x] is the sum of image[:y, :x] and the first row/column are zero
    assert table.shape == (3, 4, 3)
    assert np.array_equal(table[2, 3], image.reshape(-1, 3).sum(axis=0))
    assert np.array_equal(table[1, 2], image[:1, :2].reshape(-1, 3).sum(axis=0))
    assert not table[0].any() and not table[:, 0].any()


# --------------------------------------------------------------------------------------------
# Similarity transforms and chip geometry


def _similarity(angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def test_similarity_transform_recovers_a_known_transform_and_honours_weights() -> None:
    # Given points moved by a known similarity, and a corrupted point with zero weight
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [7.0, 3.0]])
    truth = _similarity(0.3, 1.7, (5.0, -2.0))
    dst = align.apply_transform(truth, src)
    corrupted = dst.copy()
    corrupted[3] += 40.0
    # When fitting
    fitted = align.similarity_transform(src, dst)
    weighted = align.similarity_transform(src, corrupted, np.array([1.0, 1.0, 1.0, 0.0]))
    # Then the transform is recovered, the zero-weight point is ignored, and inversion undoes it
    assert np.allclose(fitted, truth)
    assert np.allclose(weighted, truth)
    assert np.allclose(align.apply_transform(align.invert_transform(fitted), dst), src)


def test_dlib_chip_geometry_of_an_upright_face() -> None:
    # Given dlib's template points scaled by 2 and shifted: a face twice the chip size
    points = align.dlib_template_points() * 2.0 + np.array([100.0, 50.0])
    # When computing dlib's chip details
    geometry = align.dlib_chip_geometry(points)
    # Then the source rectangle is 300 px wide (dlib width = right - left + 1), upright,
    # centred on the image of the chip centre
    assert geometry.angle == pytest.approx(0.0)
    assert geometry.right - geometry.left + 1 == pytest.approx(300.0)
    assert geometry.center == pytest.approx((250.0, 200.0))
    assert geometry.scale == pytest.approx(2.0)


def test_template_geometry_follows_rotation_of_the_landmarks() -> None:
    # Given MTCNN landmarks exactly on the template, rotated by 20 degrees about the chip centre
    rotation = _similarity(math.radians(20), 1.0, (0.0, 0.0))
    centre = np.array([75.0, 75.0])
    landmarks = align.apply_transform(rotation, align.MTCNN_TEMPLATE - centre) + centre + 200.0
    # When fitting route 1
    geometry = align.template_chip_geometry(landmarks)
    # Then the chip is rotated by 20 degrees at scale 1 around the shifted chip centre
    assert math.degrees(geometry.angle) == pytest.approx(20.0)
    assert geometry.scale == pytest.approx(1.0)
    assert geometry.center == pytest.approx((275.0, 275.0))


# --------------------------------------------------------------------------------------------
# Chip extraction (dlib's extract_image_chip)


def _disc_image(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    disc = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[disc] = 255
    return image


def _centroid(chip: np.ndarray) -> np.ndarray:
    weights = chip[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : chip.shape[0], 0 : chip.shape[1]]
    return np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()


@pytest.mark.parametrize(
    ("scale", "angle_deg"),
    [(1.0, 0.0), (0.6, 25.0), (2.5, 0.0), (2.5, -30.0), (5.0, 10.0)],
    ids=["same-size", "upscale-rotated", "one-pyramid-level", "pyramid-rotated", "two-pyramid-levels"],
)
def test_a_drawn_disc_lands_where_the_geometry_says(scale: float, angle_deg: float) -> None:
    # Given a chip geometry and a disc drawn at the image position of chip point (50, 100)
    transform = _similarity(math.radians(angle_deg), scale, (40.0, 30.0))
    half = (150 * scale - 1) / 2
    cx, cy = align.apply_transform(transform, np.array([[75.0, 75.0]]))[0]
    geometry = align.ChipGeometry(cx - half, cy - half, cx + half, cy + half, math.radians(angle_deg))
    corners = geometry.corners()
    target = np.array([50.0, 100.0])
    spot = corners[0] + target[0] / 149 * (corners[1] - corners[0]) + target[1] / 149 * (corners[2] - corners[0])
    size = int(max(corners.max(), spot.max()) + 80)
    image = _disc_image(size, (float(spot[0]), float(spot[1])), radius=6.0 * scale)
    # When extracting the chip (pyramid levels first when the face is > 2x the chip)
    chip = align.extract_chip(image, geometry)
    # Then the disc's centroid is at (50, 100) in the chip, within dlib's pyramid offsets
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert np.linalg.norm(_centroid(chip) - target) < 1.0


def test_chip_is_black_where_it_leaves_the_image() -> None:
    # Given a white image and a chip rectangle hanging off its left edge
    image = np.full((200, 200, 3), 255, dtype=np.uint8)
    geometry = align.ChipGeometry(-75.0, 20.0, 74.0, 169.0, 0.0)
    # When extracting
    chip = align.extract_chip(image, geometry)
    # Then the left half is black and the right half white
    assert not chip[:, :74].any()
    assert (chip[:, 76:] == 255).all()


def test_chip_of_a_face_entirely_outside_the_image_is_black() -> None:
    # Given a rectangle far outside a small image
    image = np.full((50, 50, 3), 200, dtype=np.uint8)
    # When / Then the chip is all black
    assert not align.extract_chip(image, align.ChipGeometry(500.0, 500.0, 649.0, 649.0, 0.3)).any()


def test_pyramid_down2_blurs_with_the_binomial_kernel() -> None:
    # Given a constant image and a single bright pixel
    flat = np.full((21, 30, 3), 93, dtype=np.uint8)
    impulse = np.zeros((21, 21, 3), dtype=np.uint8)
    impulse[10, 10] = 255
    # When reducing
    reduced = align.pyramid_down2(flat)
    spread = align.pyramid_down2(impulse)[..., 0].astype(int)
    # Then sizes are ((H-3)//2, (W-3)//2), constants stay, and the impulse spreads as
    # [1 4 6 4 1]^2 / 256 sampled at even offsets, centred on output (4, 4) = input (10, 10)
    assert reduced.shape == (9, 13, 3) and (reduced == 93).all()
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) * 255 // 256
    assert spread[4, 4] == kernel[2, 2]
    assert spread[3, 4] == kernel[0, 2] and spread[4, 5] == kernel[2, 4]
    assert align.pyramid_down2(np.zeros((8, 40, 3), dtype=np.uint8)).size == 0


def test_align_face_rejects_unknown_routes() -> None:
    # Given a detection
    detection = Detection(Box(0, 0, 100, 100), align.MTCNN_TEMPLATE.astype(np.float32), 0.99)
    image = np.zeros((150, 150, 3), dtype=np.uint8)
    # When / Then the template route works, others are refused
    assert align.align_face(image, detection, align.ROUTE_TEMPLATE).shape == (150, 150, 3)
    with pytest.raises(ValueError, match="unknown alignment route"):
        align.align_face(image, detection, "opencv")


# --------------------------------------------------------------------------------------------
# ArcFace chip (SFace input) and YuNet decoding


def test_arcface_chip_puts_the_landmarks_on_the_template() -> None:
    # Given an image with five white dots at the template positions, scaled by 2 and shifted
    image = np.zeros((300, 300, 3), dtype=np.uint8)
    landmarks = align.ARCFACE_TEMPLATE_5 * 2.0 + np.array([40.0, 30.0])
    for x, y in np.rint(landmarks).astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    # When cutting the 112x112 chip from those landmarks
    chip = align.arcface_chip(image, landmarks)
    # Then each dot lands on its template point
    assert chip.shape == (112, 112, 3)
    for x, y in np.rint(align.ARCFACE_TEMPLATE_5).astype(int):
        assert chip[y, x].min() > 150


def test_warp_is_black_outside_the_image_and_identity_keeps_pixels() -> None:
    # Given a random image and the identity transform
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    # When warping into a larger chip
    chip = align.warp_affine_bilinear(image, identity, 64)
    # Then the image is copied and the rest is black
    assert np.array_equal(chip[:40, :50], image)
    assert not chip[45:, :].any() and not chip[:, 55:].any()


def test_yunet_decode_places_boxes_and_landmarks_on_the_grid() -> None:
    from facegate.vision import yunet

    # Given network outputs for a 64x64 input with one confident cell at stride 8, row 2, column 3
    outputs = {}
    for stride in yunet.STRIDES:
        cells = (64 // stride) ** 2
        outputs[f"cls_{stride}"] = np.zeros((1, cells, 1), np.float32)
        outputs[f"obj_{stride}"] = np.zeros((1, cells, 1), np.float32)
        outputs[f"bbox_{stride}"] = np.zeros((1, cells, 4), np.float32)
        outputs[f"kps_{stride}"] = np.zeros((1, cells, 10), np.float32)
    index = 2 * 8 + 3
    outputs["cls_8"][0, index, 0] = 0.81
    outputs["obj_8"][0, index, 0] = 1.5  # clipped to 1
    outputs["bbox_8"][0, index] = [0.5, 0.25, math.log(2.0), 0.0]
    outputs["kps_8"][0, index] = [0.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 1.0, 1.0]
    # When decoding
    boxes, landmarks, scores = yunet.decode(outputs, 64, 64, 0.5)
    # Then the score is sqrt(cls * obj) and the geometry is in pixels
    assert scores.tolist() == pytest.approx([0.9])
    assert boxes[0].tolist() == pytest.approx([28.0 - 8.0, 18.0 - 4.0, 16.0, 8.0])
    assert landmarks[0, 0].tolist() == pytest.approx([24.0, 16.0])
    assert landmarks[0, 4].tolist() == pytest.approx([32.0, 24.0])


def test_yunet_nms_keeps_the_best_of_overlapping_boxes() -> None:
    from facegate.vision import yunet

    # Given two overlapping boxes and a separate one
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]], dtype=np.float32)
    scores = np.array([0.8, 0.9, 0.7], dtype=np.float32)
    # When suppressing at IoU 0.3
    kept = yunet.nms(boxes, scores)
    # Then the better of the pair and the separate box remain, best first
    assert kept.tolist() == [1, 2]


def test_padded_size_rounds_up_to_multiples_of_32() -> None:
    from facegate.vision import yunet

    assert yunet.padded_size(250, 250) == (256, 256)
    assert yunet.padded_size(64, 65) == (64, 96)

"""The face engine's pure helpers: L2 normalisation, fusion of descriptors, choice of the dominant face."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facegate.vision.engine import fuse, l2_normalise, pick_face
from facegate.vision.types import Box, Detection


def detection(left: float, top: float, size: float, score: float = 0.99) -> Detection:
    """A square face box with plausible landmarks inside it."""
    landmarks = np.array(
        [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], dtype=np.float32
    ) * size + np.array([left, top], dtype=np.float32)
    return Detection(box=Box(left, top, left + size, top + size), landmarks=landmarks, score=score)


def unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, 128)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


finite_rows = arrays(
    np.float32,
    st.tuples(st.integers(1, 6), st.integers(1, 16)),
    elements=st.floats(-1e3, 1e3, width=32).filter(lambda value: value == 0.0 or abs(value) >= 1e-3),
)
"""Rows of finite values; non-zero entries are not vanishingly small (norms below 1e-12 are not rescaled)."""


# ---------------------------------------------------------------------------------------- l2_normalise


def test_l2_normalise_gives_unit_rows_in_the_same_direction() -> None:
    # Given rows of very different lengths
    rows = np.array([[3.0, 4.0], [0.0, -0.002], [1e4, 1e4]], dtype=np.float32)
    # When normalised
    unit = l2_normalise(rows)
    # Then every row has norm 1, points the same way, and the result is float32
    assert unit.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit[0], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(unit[1], [0.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(unit[2], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)


def test_l2_normalise_keeps_zero_rows_zero() -> None:
    # Given a zero row among ordinary ones
    rows = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], dtype=np.float32)
    # When normalised
    unit = l2_normalise(rows)
    # Then the zero row stays zero (no NaN from a division by zero) and the other is unit length
    assert np.isfinite(unit).all()
    np.testing.assert_array_equal(unit[0], 0.0)
    np.testing.assert_allclose(unit[1], [1 / 3, 2 / 3, 2 / 3], atol=1e-6)


def test_l2_normalise_works_on_a_single_vector() -> None:
    # Given one 1-d vector / When normalised / Then the last axis is normalised
    unit = l2_normalise(np.array([0.0, 5.0], dtype=np.float32))
    np.testing.assert_allclose(unit, [0.0, 1.0])


@given(finite_rows)
def test_l2_normalise_is_idempotent_and_bounded(rows: np.ndarray) -> None:
    # Given any finite rows / When normalised once and twice
    once = l2_normalise(rows)
    twice = l2_normalise(once)
    # Then norms are 1 (or 0 for zero rows) and a second pass changes nothing
    norms = np.linalg.norm(once, axis=1)
    assert np.all((np.abs(norms - 1.0) < 1e-4) | (norms == 0.0))
    np.testing.assert_allclose(twice, once, atol=1e-6)


# ------------------------------------------------------------------------------------------------ fuse


def test_fuse_of_one_descriptor_is_that_descriptor() -> None:
    # Given a single unit descriptor / When fused / Then it comes back unchanged, as a 1-d vector
    single = unit_rows(1, seed=1)
    fused = fuse(single)
    assert fused.shape == (128,)
    np.testing.assert_allclose(fused, single[0], atol=1e-6)


def test_fuse_is_the_normalised_mean_and_ignores_order() -> None:
    # Given three unit descriptors of one person
    rows = unit_rows(3, seed=2)
    # When fused in two different orders
    fused = fuse(rows)
    shuffled = fuse(rows[::-1].copy())
    # Then the result is the unit vector along their mean, whatever the order
    mean = rows.mean(axis=0)
    np.testing.assert_allclose(fused, mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(fused, shuffled, atol=1e-6)
    assert abs(float(np.linalg.norm(fused)) - 1.0) < 1e-6


def test_fuse_lies_between_its_inputs() -> None:
    # Given two unit descriptors 90 degrees apart
    a = np.zeros(128, dtype=np.float32)
    b = np.zeros(128, dtype=np.float32)
    a[0], b[1] = 1.0, 1.0
    # When fused
    fused = fuse(np.stack([a, b]))
    # Then the template sits halfway: 45 degrees from each
    assert float(fused @ a) == pytest.approx(np.cos(np.pi / 4), abs=1e-6)
    assert float(fused @ b) == pytest.approx(np.cos(np.pi / 4), abs=1e-6)


def test_fuse_is_closer_to_each_input_than_the_inputs_are_to_each_other() -> None:
    # Given three noisy views of one identity
    rng = np.random.default_rng(3)
    identity = rng.normal(size=128)
    views = np.stack([identity + 0.8 * rng.normal(size=128) for _ in range(3)]).astype(np.float32)
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    # When fused
    fused = fuse(views)
    # Then the template is nearer the identity than any single view is
    truth = identity / np.linalg.norm(identity)
    assert float(fused @ truth) > float(np.max(views @ truth))


# ------------------------------------------------------------------------------------------- pick_face


def test_pick_largest_takes_the_biggest_box_wherever_it_is() -> None:
    # Given a big face in the corner and a small face in the centre of a 400x300 frame
    big_corner = detection(0, 0, 150)
    small_centre = detection(180, 130, 40)
    faces = [small_centre, big_corner]
    # When picking the largest / Then the corner face wins
    assert pick_face(faces, 400, 300, "largest") is big_corner


def test_pick_center_takes_the_face_nearest_the_image_centre() -> None:
    # Given the same two faces / When picking by centre / Then the small central face wins
    big_corner = detection(0, 0, 150)
    small_centre = detection(180, 130, 40)
    assert pick_face([big_corner, small_centre], 400, 300, "center") is small_centre


def test_pick_center_uses_the_real_image_centre_not_the_origin() -> None:
    # Given two equal faces, one left of centre and one right of centre in a wide 1000x200 image,
    # the right one nearer the centre (x = 500)
    left = detection(100, 80, 40)  # centre x = 120
    right = detection(560, 80, 40)  # centre x = 580
    # When picking by centre / Then the right one is chosen (the left one is nearer the origin)
    assert pick_face([left, right], 1000, 200, "center") is right


def test_pick_with_one_face_returns_it() -> None:
    # Given a single detection / When picked either way / Then it is returned
    only = detection(10, 10, 50)
    assert pick_face([only], 100, 100, "largest") is only
    assert pick_face([only], 100, 100, "center") is only


def test_pick_from_no_faces_is_an_error() -> None:
    # Given no detections / When picking / Then it fails loudly (callers check for faces first)
    with pytest.raises(ValueError):
        pick_face([], 100, 100, "largest")
    with pytest.raises(ValueError):
        pick_face([], 100, 100, "center")

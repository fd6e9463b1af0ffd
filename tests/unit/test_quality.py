"""Face-quality metrics on synthetic landmarks and chips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facegate.vision import quality
from facegate.vision.quality import (
    ENROLL_THRESHOLDS,
    PROBE_THRESHOLDS,
    QualityThresholds,
    assess,
    brightness,
    clipping,
    estimate_pose,
    lower_face_texture,
    sharpness,
)
from facegate.vision.types import Box, Detection

MOUTH_HALF_WIDTH = 0.87
"""Half mouth width in half inter-ocular distances (LFW median): any value works for the model."""


def generic_face_3d() -> np.ndarray:
    """The five landmarks of the generic face that estimate_pose assumes, in half-IOD units.

    x to the image right, y down, z toward the camera; eyes and mouth corners on the z = 0 plane.
    """
    drop = quality.FRONTAL_MOUTH_DROP
    return np.array(
        [
            [-1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, quality.FRONTAL_NOSE_RATIO * drop, quality.NOSE_DEPTH],
            [-MOUTH_HALF_WIDTH, drop, 0.0],
            [MOUTH_HALF_WIDTH, drop, 0.0],
        ]
    )


def project(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, size: float = 30.0) -> np.ndarray:
    """Weak-perspective image of the generic face turned by yaw (about y), pitch (about x), roll."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    turn = np.array([[math.cos(y), 0.0, math.sin(y)], [0.0, 1.0, 0.0], [-math.sin(y), 0.0, math.cos(y)]])
    nod = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), math.sin(p)], [0.0, -math.sin(p), math.cos(p)]])
    points = (generic_face_3d() @ turn.T) @ nod.T
    spin = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    return (points[:, :2] @ spin.T) * size + np.array([200.0, 150.0])


def detection_for(landmarks: np.ndarray) -> Detection:
    x, y = landmarks[:, 0], landmarks[:, 1]
    box = Box(float(x.min() - 20), float(y.min() - 30), float(x.max() + 20), float(y.max() + 20))
    return Detection(box=box, landmarks=landmarks.astype(np.float32), score=0.99)


def textured_chip(seed: int = 0, level: float = 128.0, spread: float = 40.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grey = np.clip(rng.normal(level, spread, size=(150, 150)), 0, 255)
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def box_blur(chip: np.ndarray, radius: int) -> np.ndarray:
    image = chip.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in range(3)], mode="edge")
        windows = [np.take(padded, range(k, k + chip.shape[axis]), axis=axis) for k in range(2 * radius + 1)]
        image = np.mean(windows, axis=0)
    return image.astype(np.uint8)


# ---------------------------------------------------------------- pose


def test_frontal_face_has_zero_pose() -> None:
    # Given the generic face seen from the front / When its pose is estimated
    yaw, pitch, roll = estimate_pose(project())
    # Then every angle is zero
    assert yaw == pytest.approx(0.0, abs=1e-9)
    assert pitch == pytest.approx(0.0, abs=1e-9)
    assert roll == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("angle", [-170.0, -90.0, -30.0, -5.0, 12.5, 45.0, 90.0, 179.0])
def test_roll_equals_the_in_plane_rotation(angle: float) -> None:
    # Given a frontal face rotated in the image plane / When its pose is estimated
    yaw, pitch, roll = estimate_pose(project(roll=angle))
    # Then roll is the rotation and yaw and pitch stay zero
    assert roll == pytest.approx(angle, abs=1e-6)
    assert yaw == pytest.approx(0.0, abs=1e-6)
    assert pitch == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("angle", [-70.0, -45.0, -20.0, 10.0, 30.0, 60.0])
def test_yaw_of_a_turned_generic_face_is_recovered(angle: float) -> None:
    # Given the generic face turned about the vertical axis (weak perspective)
    # When its pose is estimated / Then yaw is the turn and the others stay zero
    yaw, pitch, roll = estimate_pose(project(yaw=angle))
    assert yaw == pytest.approx(angle, abs=1e-6)
    assert pitch == pytest.approx(0.0, abs=1e-6)
    assert roll == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("angle", [-50.0, -25.0, -5.0, 15.0, 40.0])
def test_pitch_of_a_nodding_generic_face_is_recovered(angle: float) -> None:
    # Given the generic face nodding (positive = looking down) / When estimated / Then pitch is the nod
    yaw, pitch, roll = estimate_pose(project(pitch=angle))
    assert pitch == pytest.approx(angle, abs=1e-6)
    assert yaw == pytest.approx(0.0, abs=1e-6)
    assert roll == pytest.approx(0.0, abs=1e-6)


def test_combined_pose_is_recovered_approximately() -> None:
    # Given the generic face turned, nodding and rolled at once
    yaw, pitch, roll = estimate_pose(project(yaw=25.0, pitch=15.0, roll=-20.0))
    # Then yaw and pitch are recovered within a few degrees, and roll is off by the documented
    # eye-line tilt of a turned, nodding head: atan(tan(yaw) * sin(pitch)), 6.9 degrees here
    assert yaw == pytest.approx(25.0, abs=3.0)
    assert pitch == pytest.approx(15.0, abs=3.0)
    coupling = math.degrees(math.atan(math.tan(math.radians(25.0)) * math.sin(math.radians(15.0))))
    assert roll == pytest.approx(-20.0 - coupling, abs=1.0)


def test_pose_is_invariant_to_scale_and_translation() -> None:
    # Given the same turned face at two sizes and places
    small = project(yaw=20.0, pitch=-10.0, roll=5.0, size=10.0)
    large = (small - small.mean(axis=0)) * 17.0 + np.array([900.0, 40.0])
    # When both are estimated / Then the angles agree
    assert estimate_pose(small) == pytest.approx(estimate_pose(large), abs=1e-9)


@pytest.mark.parametrize(
    ("axis", "shift"),
    [
        pytest.param(0, 8.0, id="nose-right-is-yaw-right"),
        pytest.param(1, 6.0, id="nose-toward-the-mouth-is-looking-down"),
    ],
)
def test_nose_shift_sets_the_sign_of_yaw_and_pitch(axis: int, shift: float) -> None:
    # Given a frontal layout with the nose moved along one image axis (x: to the image right, y: down toward
    # the mouth), then the other way
    forward = project()
    forward[2, axis] += shift
    back = project()
    back[2, axis] -= shift
    # When estimated / Then the angle of that axis (yaw for x, pitch for y) is positive toward the image right
    # or looking down, negative toward the left or looking up
    assert estimate_pose(forward)[axis] > 10.0
    assert estimate_pose(back)[axis] < -10.0


def test_upside_down_face_reads_as_roll_180() -> None:
    # Given a frontal face rotated by 180 degrees / When estimated / Then |roll| is 180, yaw and pitch 0
    yaw, pitch, roll = estimate_pose(project(roll=180.0))
    assert abs(roll) == pytest.approx(180.0, abs=1e-6)
    assert yaw == pytest.approx(0.0, abs=1e-6)
    assert pitch == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "landmarks",
    [
        np.zeros((5, 2)),
        np.array([[10.0, 10.0], [10.0, 10.0], [12.0, 20.0], [8.0, 30.0], [12.0, 30.0]]),
        np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 5.0], [0.0, 0.0], [10.0, 0.0]]),
        np.array([[0.0, 0.0], [10.0, 0.0], [5.0, -5.0], [0.0, -8.0], [10.0, -8.0]]),
    ],
    ids=["all-equal", "eyes-coincide", "mouth-on-eye-line", "mouth-above-eyes"],
)
def test_degenerate_landmarks_give_finite_bounded_angles(landmarks: np.ndarray) -> None:
    # Given landmarks no real face has / When estimated / Then finite angles within range, no error
    yaw, pitch, roll = estimate_pose(landmarks)
    assert all(math.isfinite(a) for a in (yaw, pitch, roll))
    assert -90.0 <= yaw <= 90.0
    assert -90.0 <= pitch <= 90.0
    assert -180.0 <= roll <= 180.0


def test_non_finite_landmarks_are_a_programming_error() -> None:
    # Given landmarks with a NaN / When estimated / Then ValueError (never silent NaN angles)
    landmarks = project()
    landmarks[2, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        estimate_pose(landmarks)


# ---------------------------------------------------------------- sharpness, brightness, clipping


def test_blurring_lowers_sharpness() -> None:
    # Given a textured chip and increasingly blurred copies
    chip = textured_chip()
    values = [sharpness(chip), sharpness(box_blur(chip, 1)), sharpness(box_blur(chip, 3))]
    # Then sharpness falls with every blur, by a large factor
    assert values[0] > values[1] > values[2]
    assert values[0] > 20.0 * values[2]


def test_flat_chip_has_zero_sharpness() -> None:
    # Given a uniform chip / Then its Laplacian variance is zero
    assert sharpness(np.full((150, 150, 3), 90, dtype=np.uint8)) == 0.0


def test_sharpness_only_looks_at_the_inner_face() -> None:
    # Given a flat inner face surrounded by noise
    chip = textured_chip()
    chip[33:117, 40:110] = 100
    # Then sharpness is (almost) zero: the border texture does not count
    assert sharpness(chip) < 1.0


def test_brightness_of_a_uniform_chip_is_its_grey_level() -> None:
    # Given a uniform colour / Then brightness is its BT.601 luma
    chip = np.zeros((150, 150, 3), dtype=np.uint8)
    chip[...] = (200, 100, 50)
    assert brightness(chip) == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50)


def test_brightness_ignores_the_background() -> None:
    # Given a mid-grey inner face on a white background / Then brightness is the face's
    chip = np.full((150, 150, 3), 255, dtype=np.uint8)
    chip[33:117, 40:110] = 120
    assert brightness(chip) == pytest.approx(120.0)


def test_clipping_fractions() -> None:
    # Given an inner face that is a quarter black, a quarter white, half grey
    chip = np.full((150, 150, 3), 128, dtype=np.uint8)
    inner = chip[33:117, 40:110]
    inner[:21] = 0
    inner[21:42] = 255
    # When measured / Then the fractions are a quarter each
    shadows, highlights = clipping(chip)
    assert shadows == pytest.approx(0.25)
    assert highlights == pytest.approx(0.25)


def test_smooth_lower_face_has_low_texture_ratio() -> None:
    # Given a textured chip, and a copy whose mouth and chin region is flat (like a mask)
    chip = textured_chip()
    masked = chip.copy()
    masked[90:130, 45:105] = 230
    # Then the ratio is about 1 for the first and under the flag threshold for the second
    assert lower_face_texture(chip) == pytest.approx(1.0, rel=0.25)
    assert lower_face_texture(masked) < quality.COVERED_TEXTURE_RATIO


def test_lower_face_texture_of_flat_chip_is_one() -> None:
    # Given a completely flat chip / Then the ratio is defined (1.0), not a division error
    assert lower_face_texture(np.zeros((150, 150, 3), dtype=np.uint8)) == 1.0


# ---------------------------------------------------------------- assess


def lenient(**overrides: float) -> QualityThresholds:
    limits = {
        "min_face_px": 0.0,
        "min_sharpness": 0.0,
        "min_brightness": 0.0,
        "max_brightness": 255.0,
        "max_highlights": 1.0,
        "max_yaw": 90.0,
        "max_pitch": 90.0,
        "max_roll": 180.0,
    }
    limits.update(overrides)
    return QualityThresholds(**limits)


def test_good_face_passes_both_threshold_sets() -> None:
    # Given a frontal 60 px face with a sharp, mid-grey chip
    landmarks = project(size=30.0)
    chip = textured_chip(level=128.0, spread=30.0)
    # When assessed for enrollment and at the door / Then no issue and no flag
    for thresholds in (ENROLL_THRESHOLDS, PROBE_THRESHOLDS):
        report = assess(detection_for(landmarks), chip, 1.0, thresholds)
        assert report.issues == ()
        assert report.flags == ()
        assert report.ok


def test_face_size_is_measured_in_original_pixels() -> None:
    # Given a face whose eyes are 40 working pixels apart in an image decoded at scale 0.5
    landmarks = project(size=20.0)
    detection = detection_for(landmarks)
    # When assessed
    report = assess(detection, textured_chip(), 0.5, lenient())
    # Then the inter-ocular distance and box height are reported in original pixels
    assert report.face_size_px == pytest.approx(80.0)
    assert report.box_height_px == pytest.approx(detection.box.height * 2.0)


def test_small_face_is_refused_below_the_threshold_only() -> None:
    # Given a face 28 px between the eyes
    detection = detection_for(project(size=14.0))
    chip = textured_chip()
    # Then it is too small for a 30 px limit but not for a 20 px limit
    assert assess(detection, chip, 1.0, lenient(min_face_px=30.0)).issues == ("face_too_small",)
    assert assess(detection, chip, 1.0, lenient(min_face_px=20.0)).issues == ()


def test_face_framed_from_afar_is_too_small_when_the_image_size_is_known() -> None:
    # Given a face 28 px between the eyes and a 10% framing limit
    detection = detection_for(project(size=14.0))
    chip = textured_chip()
    framing = lenient(min_face_fraction=0.10)
    # When the image's shorter side is 400 px (7% framing), 250 px (11%) or unknown
    far = assess(detection, chip, 1.0, framing, image_short_side_px=400.0)
    near = assess(detection, chip, 1.0, framing, image_short_side_px=250.0)
    unknown = assess(detection, chip, 1.0, framing)
    # Then only the far framing is refused, and the gate is off without the image size or with a zero limit
    assert far.issues == ("face_too_small",)
    assert near.issues == ()
    assert unknown.issues == ()
    assert assess(detection, chip, 1.0, lenient(), image_short_side_px=4000.0).issues == ()


def test_issues_come_in_priority_order() -> None:
    # Given a tiny, flat, dark, strongly turned face
    detection = detection_for(project(yaw=60.0, size=5.0))
    chip = np.full((150, 150, 3), 10, dtype=np.uint8)
    # When assessed for enrollment
    report = assess(detection, chip, 1.0, ENROLL_THRESHOLDS)
    # Then every failing gate is listed, in the documented order
    assert report.issues == ("face_too_small", "too_blurry", "too_dark", "pose_too_far")
    assert not report.ok


def test_overexposure_by_mean_or_by_clipped_highlights() -> None:
    # Given a face whose chip is bright overall, and one that is mid-grey with a blown-out half
    detection = detection_for(project(size=40.0))
    bright = textured_chip(level=240.0, spread=10.0)
    blown = textured_chip(level=110.0, spread=20.0)
    blown[33:75, 40:110] = 255
    thresholds = lenient(max_brightness=225.0, max_highlights=0.25)
    # Then both are overexposed
    assert assess(detection, bright, 1.0, thresholds).issues == ("overexposed",)
    assert assess(detection, blown, 1.0, thresholds).issues == ("overexposed",)


@pytest.mark.parametrize(
    ("pose", "limit"), [({"yaw": 40.0}, "max_yaw"), ({"pitch": -40.0}, "max_pitch"), ({"roll": 40.0}, "max_roll")]
)
def test_each_pose_angle_can_refuse(pose: dict[str, float], limit: str) -> None:
    # Given a face turned beyond one angle limit / Then pose_too_far
    detection = detection_for(project(size=40.0, **pose))
    assert assess(detection, textured_chip(), 1.0, lenient(**{limit: 30.0})).issues == ("pose_too_far",)


def test_masked_lower_face_is_flagged_but_not_refused() -> None:
    # Given a good face whose mouth and chin are a flat white surface
    chip = textured_chip(level=128.0, spread=30.0)
    chip[90:130, 45:105] = 235
    # When assessed for enrollment with that chip as the occlusion chip / Then the flag is raised, no refusal
    report = assess(detection_for(project(size=40.0)), chip, 1.0, ENROLL_THRESHOLDS, occlusion_chip=chip)
    assert report.flags == ("lower_face_covered",)
    assert report.issues == ()
    # And without an occlusion chip (door frames) no occlusion flag is computed
    assert assess(detection_for(project(size=40.0)), chip, 1.0, ENROLL_THRESHOLDS).flags == ()


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_scale_must_be_positive(scale: float) -> None:
    # Given an impossible decode scale / When assessed / Then ValueError
    with pytest.raises(ValueError, match="scale"):
        assess(detection_for(project()), textured_chip(), scale, ENROLL_THRESHOLDS)


def test_enrollment_is_at_least_as_strict_as_the_door() -> None:
    # Given the two shipped threshold sets / Then every enrollment limit is at least as strict
    enroll, probe = ENROLL_THRESHOLDS, PROBE_THRESHOLDS
    assert enroll.min_face_px >= probe.min_face_px
    assert enroll.min_sharpness >= probe.min_sharpness
    assert enroll.min_brightness >= probe.min_brightness
    assert enroll.max_brightness <= probe.max_brightness
    assert enroll.max_highlights <= probe.max_highlights
    assert enroll.max_yaw <= probe.max_yaw
    assert enroll.max_pitch <= probe.max_pitch
    assert enroll.max_roll <= probe.max_roll

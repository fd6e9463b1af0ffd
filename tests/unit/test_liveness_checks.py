"""The pure liveness checks on synthetic landmarks: a generic 3D head seen by a pinhole camera, and flat pictures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt
import pytest
from synthetic_head import HEAD, flat_photo, project, unit

from facegate.vision.liveness import (
    LIVENESS_THRESHOLDS,
    REASONS,
    FrameObservation,
    LivenessThresholds,
    Movement,
    asked_change,
    check_challenge,
    consistency,
    fingerprint,
    hamming,
    homography,
    nose_parallax,
    pose_index,
    replay_key,
)

F64 = npt.NDArray[np.float64]


def live(yaw: float = 0.0, pitch: float = 0.0) -> F64:
    return project(HEAD, yaw, pitch)


PERSON = unit(1)


def frames(
    landmarks: list[F64], descriptors: list[F64] | None = None, prints: list[int] | None = None
) -> list[FrameObservation]:
    return [
        FrameObservation(
            landmarks=points.astype(np.float32),
            descriptor=(descriptors[i] if descriptors else PERSON).astype(np.float32),
            fingerprint=prints[i] if prints else (0x0F0F0F0F0F0F0F0F << i) & (2**64 - 1) ^ (i * 0x5555),
            step=i,
        )
        for i, points in enumerate(landmarks)
    ]


def test_pose_index_is_zero_frontal_and_signed_by_the_visitors_directions() -> None:
    # Given a frontal head, one turned to the visitor's left, and one looking up
    frontal, left, up = live(), live(yaw=25.0), live(pitch=-15.0)
    # When the pose index is read
    # Then frontal is near zero, a turn to the visitor's left grows the yaw index, looking up lowers the pitch index
    assert abs(pose_index(frontal)[0]) < 1e-9
    assert abs(pose_index(frontal)[1]) < 0.05
    # (0.5 * tan(25 degrees) = 0.23 under weak perspective; a near camera magnifies the nose a little)
    assert 0.5 * math.tan(math.radians(25.0)) - 0.01 < pose_index(left)[0] < 0.32
    assert pose_index(up)[1] < pose_index(frontal)[1] - 0.1
    assert pose_index(live(yaw=-25.0))[0] < -0.2


def test_pose_index_ignores_roll() -> None:
    # Given a turned head also rolled by 30 degrees in the image
    points = live(yaw=20.0)
    angle = math.radians(30.0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rolled = points @ rotation.T
    # When / Then the pose index is the same
    assert pose_index(rolled) == pytest.approx(pose_index(points), abs=1e-9)


def test_homography_maps_the_four_points_exactly_and_refuses_collinear_ones() -> None:
    # Given four points and their images under a known projective transform
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    known = np.array([[1.1, 0.2, 3.0], [-0.1, 0.9, 1.0], [0.05, 0.02, 1.0]])
    dst_h = np.column_stack([src, np.ones(4)]) @ known.T
    dst = dst_h[:, :2] / dst_h[:, 2:]
    # When the homography is fitted
    fitted = homography(src, dst)
    # Then it is the known one, and collinear points have none
    assert fitted == pytest.approx(known, abs=1e-9)
    with pytest.raises(ValueError):
        homography([[0, 0], [1, 1], [2, 2], [0, 1]], dst)


def test_parallax_separates_a_turning_head_from_a_tilted_picture() -> None:
    # Given a head turning 25 degrees and a picture turned 35 degrees with perspective
    head = nose_parallax(live(), live(yaw=25.0))
    picture = nose_parallax(flat_photo(), flat_photo(plane_yaw=35.0, plane_pitch=15.0))
    # Then only the head shows the nose leaving the plane of eyes and mouth
    assert picture < 1e-6
    assert head > 0.1
    # And degenerate landmarks prove no depth
    assert nose_parallax(np.zeros((5, 2)), live()) == 0.0


def test_a_live_head_following_the_sequence_passes() -> None:
    # Given a challenge straight -> left -> up and a head that does it
    steps = [Movement.STRAIGHT, Movement.LEFT, Movement.UP]
    observed = frames([live(), live(yaw=28.0), live(yaw=10.0, pitch=-20.0)])
    # When it is checked
    verdict = check_challenge(steps, observed)
    # Then it passes with the measured values reported
    assert verdict.passed and verdict.reason is None, verdict
    assert verdict.yaw_change > 0.2 and verdict.parallax >= LIVENESS_THRESHOLDS.min_parallax


def test_straight_after_a_turn_asks_for_the_way_back() -> None:
    # Given right -> straight
    # Then the asked change is + yaw (the nose comes back toward the image's right)
    assert asked_change(Movement.RIGHT, Movement.STRAIGHT) == (0, 1.0)
    assert asked_change(Movement.STRAIGHT, Movement.DOWN) == (1, 1.0)
    with pytest.raises(ValueError):
        asked_change(Movement.LEFT, Movement.LEFT)
    verdict = check_challenge([Movement.RIGHT, Movement.STRAIGHT], frames([live(yaw=-28.0), live()]))
    assert verdict.passed, verdict


def test_a_photo_moved_as_a_plane_is_refused() -> None:
    # Given a frontal photo turned 35 degrees as a plane where a left turn was asked
    steps = [Movement.STRAIGHT, Movement.LEFT]
    observed = frames([flat_photo(), flat_photo(plane_yaw=-35.0, plane_pitch=10.0)])
    # When it is checked
    verdict = check_challenge(steps, observed)
    # Then it is refused for not turning
    assert not verdict.passed and verdict.reason in {"no_movement", "wrong_direction"}


def test_parallax_refuses_what_moves_enough_but_stays_planar() -> None:
    # Given a picture whose perspective fakes the asked yaw change, and a lax movement minimum
    lax = dataclasses.replace(LIVENESS_THRESHOLDS, min_yaw_change=0.005)
    observed = frames([flat_photo(), flat_photo(plane_yaw=35.0)])
    assert pose_index(observed[1].landmarks)[0] - pose_index(observed[0].landmarks)[0] > 0.005
    # When it is checked
    verdict = check_challenge([Movement.STRAIGHT, Movement.LEFT], observed, thresholds=lax)
    # Then the parallax check refuses it
    assert verdict.reason == "planar" and verdict.parallax < 1e-6


def test_a_turn_the_other_way_is_the_wrong_direction_and_none_is_no_movement() -> None:
    steps = [Movement.STRAIGHT, Movement.LEFT]
    assert check_challenge(steps, frames([live(), live(yaw=-28.0)])).reason == "wrong_direction"
    assert check_challenge(steps, frames([live(), live(pitch=-25.0)])).reason == "wrong_direction"
    assert check_challenge(steps, frames([live(), live(yaw=3.0)])).reason == "no_movement"


def test_frames_of_two_people_are_refused_first() -> None:
    # Given a live-looking sequence whose second frame is someone else
    observed = frames([live(), live(yaw=28.0)], descriptors=[PERSON, unit(2)])
    # Then it is refused as different people
    assert check_challenge([Movement.STRAIGHT, Movement.LEFT], observed).reason == "different_people"


def test_a_step_without_a_frame_or_a_frame_of_no_step_is_too_few_frames() -> None:
    steps = [Movement.STRAIGHT, Movement.LEFT, Movement.UP]
    two = frames([live(), live(yaw=28.0)])
    assert check_challenge(steps, two).reason == "too_few_frames"
    stray = [*two, dataclasses.replace(two[0], step=5)]
    assert check_challenge(steps[:2], stray).reason == "too_few_frames"
    with pytest.raises(ValueError):
        check_challenge([Movement.LEFT], two)


def test_near_duplicate_frames_and_replayed_frames_are_refused() -> None:
    steps = [Movement.STRAIGHT, Movement.LEFT]
    # Given live geometry but the same picture's fingerprint (2 bits apart) in both steps
    duplicate = frames([live(), live(yaw=28.0)], prints=[0xFFFF0000FFFF0000, 0xFFFF0000FFFF0003])
    assert check_challenge(steps, duplicate).reason == "duplicate_frames"
    # Given distinct frames of one person whose every step repeats a frame of an earlier challenge (re-encoded:
    # a descriptor a few degrees off)
    turned = (PERSON + 1.2 * unit(2)) / np.linalg.norm(PERSON + 1.2 * unit(2))
    fresh = frames([live(), live(yaw=28.0)], descriptors=[PERSON, turned])
    assert check_challenge(steps, fresh).passed
    earlier = {replay_key(PERSON + 0.05 * unit(3)), replay_key(turned + 0.05 * unit(4))}
    verdict = check_challenge(steps, fresh, seen_replay_keys=earlier)
    assert verdict.reason == "replayed_frames"
    # And bytes keys are read big-endian
    assert hamming((0x00FF00FF00FF00FE).to_bytes(8, "big"), 0x00FF00FF00FF00FF) == 1


def test_one_step_like_an_earlier_challenge_is_not_a_replay() -> None:
    # Given a returning visitor whose straight look matches last time's, but whose turn does not
    steps = [Movement.STRAIGHT, Movement.LEFT]
    turned = (PERSON + 1.2 * unit(2)) / np.linalg.norm(PERSON + 1.2 * unit(2))
    fresh = frames([live(), live(yaw=28.0)], descriptors=[PERSON, turned])
    # When checked against last time's keys
    verdict = check_challenge(steps, fresh, seen_replay_keys={replay_key(PERSON), replay_key(unit(5))})
    # Then it passes
    assert verdict.passed, verdict


def test_replay_keys_stay_close_for_a_copy_and_far_for_another_face() -> None:
    # Given a descriptor, a slightly perturbed copy (cosine about 0.99) and an unrelated one
    rng = np.random.default_rng(7)
    base = rng.standard_normal(128)
    base /= np.linalg.norm(base)
    copy = base + 0.1 * rng.standard_normal(128) / math.sqrt(128)
    other = rng.standard_normal(128)
    # When keyed
    a, b, c = replay_key(base), replay_key(copy), replay_key(other)
    # Then the copy is within the replay distance and the other face far beyond it; keys are deterministic
    assert 0 <= a < 2**63 and replay_key(base) == a
    assert hamming(a, b) <= LIVENESS_THRESHOLDS.replay_hamming
    assert hamming(a, c) > 2 * LIVENESS_THRESHOLDS.replay_hamming


def test_consistency_compares_frames_of_one_step_and_of_consecutive_steps_only() -> None:
    # Given three steps: person A, A, and B's vector nearly opposite to A's first frame only
    a1, a2 = unit(1), unit(1) * 0.8 + unit(4) * 0.6
    far = -a1 * 0.5 + a2 * 0.9
    far /= np.linalg.norm(far)
    observed = frames([live(), live(yaw=28.0), live()], descriptors=[a1, a2, far])
    # When the consistency is read, the first and the last frame are not compared
    assert consistency([[f] for f in observed]) == pytest.approx(min(float(a1 @ a2), float(a2 @ far)))
    # And a second frame of the first step is compared with its neighbour step
    extra = dataclasses.replace(observed[0], descriptor=unit(9).astype(np.float32))
    assert consistency([[observed[0], extra], [observed[1]], [observed[2]]]) < 0.3


def test_fingerprint_survives_noise_and_tells_different_faces_apart() -> None:
    # Given a textured chip, a noisy copy of it, and another chip
    rng = np.random.default_rng(3)
    base = (np.add.outer(np.arange(112), np.arange(112)) % 256).astype(np.float64)
    texture = rng.uniform(0, 255, size=(8, 8)).repeat(14, axis=0).repeat(14, axis=1)
    chip = np.clip((base + texture) / 2, 0, 255).astype(np.uint8)[:, :, None].repeat(3, axis=2)
    noisy = np.clip(chip + rng.normal(0, 3, chip.shape), 0, 255).astype(np.uint8)
    other = rng.uniform(0, 255, size=(112, 112, 3)).astype(np.uint8)
    # When fingerprinted
    a, b, c = fingerprint(chip), fingerprint(noisy), fingerprint(other)
    # Then the noisy copy is a near-duplicate and the other is not
    assert 0 <= a < 2**63
    assert hamming(a, b) <= LIVENESS_THRESHOLDS.duplicate_hamming
    assert hamming(a, c) > 3 * LIVENESS_THRESHOLDS.duplicate_hamming


def test_reasons_and_thresholds_are_stable() -> None:
    assert REASONS == (
        "too_few_frames",
        "different_people",
        "no_movement",
        "wrong_direction",
        "planar",
        "duplicate_frames",
        "replayed_frames",
    )
    assert isinstance(LIVENESS_THRESHOLDS, LivenessThresholds)
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIVENESS_THRESHOLDS.min_parallax = 0.0  # type: ignore[misc]

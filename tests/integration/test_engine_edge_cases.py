"""The 16 edge-case photos of ``../shared/datasets/edge`` against the behaviour its README expects,
through the engine's public verbs (``detect`` and ``enroll_template``).

Where the product cannot meet the README the test states the README's expectation and is marked
``xfail(strict=True)`` with the measured numbers, so a fix shows up as an unexpected pass.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facegate.errors import FaceRejected
from facegate.vision import FaceEngine
from facegate.vision.quality import (
    ENROLL_THRESHOLDS,
    FACE_TOO_SMALL,
    HEAD_TILTED,
    ISSUE_ORDER,
    LOWER_FACE_COVERED,
    POSE_TOO_FAR,
)
from facegate.vision.types import Face

EDGE_FILES = 16
ENROLL_CODES = frozenset({"no_face", "multiple_faces", *ISSUE_ORDER})


@dataclass(frozen=True)
class Outcome:
    """What the engine makes of one edge image."""

    faces: list[Face]
    enroll_code: str | None
    """None when the image enrolled, else the FaceRejected code."""
    size: tuple[int, int]
    """(width, height) of the upright original image."""


@pytest.fixture(scope="module")
def outcome(engine: FaceEngine, edge_dir: Path) -> Callable[[str], Outcome]:
    """Detection and enrollment of an edge image by file name, computed once per module."""
    cache: dict[str, Outcome] = {}

    def run(name: str) -> Outcome:
        if name not in cache:
            data = (edge_dir / name).read_bytes()
            faces = engine.detect(data)
            try:
                engine.enroll_template(data)
                code = None
            except FaceRejected as rejected:
                code = rejected.code
            with Image.open(edge_dir / name) as image:
                size = ImageOps.exif_transpose(image).size
            cache[name] = Outcome(faces=faces, enroll_code=code, size=size)
        return cache[name]

    return run


def readme_files(edge_dir: Path) -> list[str]:
    text = (edge_dir / "README.md").read_text()
    return re.findall(r"^\|\s*([\w.-]+\.(?:jpe?g|png))\s*\|", text, flags=re.MULTILINE)


# ------------------------------------------------------------------------------------ the whole set


def test_readme_lists_every_image_of_the_folder(edge_dir: Path) -> None:
    # Given the README's table and the folder
    listed = readme_files(edge_dir)
    present = sorted(p.name for p in edge_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    # Then the 16 images listed are exactly the images present (so the tests below cover them all)
    assert len(listed) == EDGE_FILES
    assert sorted(listed) == present


def test_every_image_gives_faces_with_consistent_geometry_and_reports(
    edge_dir: Path, outcome: Callable[[str], Outcome]
) -> None:
    for name in readme_files(edge_dir):
        # Given an edge image / When detected and enrolled
        result = outcome(name)
        width, height = result.size
        # Then faces come largest first, landmarks lie inside the upright original image,
        # quality issues and flags are known codes, and enrollment either worked or gave a known code
        heights = [face.box.height for face in result.faces]
        assert heights == sorted(heights, reverse=True), name
        for face in result.faces:
            xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
            assert (xs >= 0).all() and (xs <= width).all() and (ys >= 0).all() and (ys <= height).all(), name
            assert 0.0 <= face.score <= 1.0
            assert set(face.quality.issues) <= set(ISSUE_ORDER), name
            assert set(face.quality.flags) <= {LOWER_FACE_COVERED, HEAD_TILTED}, name
            eye_distance = float(np.hypot(*(face.landmarks[1] - face.landmarks[0])))
            assert face.quality.face_size_px == pytest.approx(eye_distance, rel=1e-3), name
        assert result.enroll_code is None or result.enroll_code in ENROLL_CODES, name


# ------------------------------------------------------------------------------------ several faces


def test_group_photo_has_six_faces_and_is_refused(outcome: Callable[[str], Outcome]) -> None:
    # Given the group photo of six people / When detected and enrolled
    result = outcome("multi_group_t1.jpg")
    # Then six faces are found and enrollment refuses: more than one face
    assert len(result.faces) == 6
    assert result.enroll_code == "multiple_faces"


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("multi_two_people.jpg", {"multiple_faces"}),
        ("multi_obama_and_biden.jpg", {"multiple_faces"}),
        ("multi_couple.jpg", {"multiple_faces"}),
        ("multi_kit_with_rose.jpg", {"multiple_faces", "face_too_small"}),
    ],
)
def test_photos_of_several_people_are_refused(outcome: Callable[[str], Outcome], name: str, codes: set[str]) -> None:
    # Given a photo of two or more people / When detected and enrolled
    result = outcome(name)
    # Then at least two faces are seen and enrollment refuses with the README's reason
    assert len(result.faces) >= 2
    assert result.enroll_code in codes


# ------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    "name",
    [
        "mask_crop_white.png",
        "mask_selfie_white.png",
        "mask_selfie_kf94.jpg",
    ],
)
def test_masked_faces_are_detected(outcome: Callable[[str], Outcome], name: str) -> None:
    # Given a masked face / When detected / Then exactly one face is found
    assert len(outcome(name).faces) == 1


@pytest.mark.parametrize(
    "name",
    [
        "mask_crop_white.png",
        "mask_selfie_white.png",
        "mask_selfie_kf94.jpg",
    ],
)
def test_masked_faces_are_flagged_lower_face_covered(outcome: Callable[[str], Outcome], name: str) -> None:
    # Given a masked face / When detected
    faces = outcome(name).faces
    # Then its quality report flags the covered lower face (a flag, never a refusal reason)
    assert faces, "no face detected"
    assert LOWER_FACE_COVERED in faces[0].quality.flags
    assert LOWER_FACE_COVERED not in faces[0].quality.issues


# -------------------------------------------------------------------------------------- small faces


def test_low_resolution_frame_reports_its_small_face(outcome: Callable[[str], Outcome]) -> None:
    # Given a 320x240 frame / When detected
    result = outcome("small_face_obama_320x240.jpg")
    # Then one face is found and its quality report gives its size in original pixels: an
    # inter-ocular distance of a few tens of pixels (measured 53.3), a box within the frame height
    assert len(result.faces) == 1
    report = result.faces[0].quality
    assert 20.0 < report.face_size_px < 0.25 * result.size[0]
    assert report.box_height_px <= result.size[1] * 1.1
    assert report.as_dict()["face_size_px"] == round(report.face_size_px, 1)


def test_tiny_face_in_a_full_body_shot_is_refused_as_too_small(outcome: Callable[[str], Outcome]) -> None:
    # Given a full-body shot: an 83 px inter-ocular distance, but only 8.1% of the image's shorter side
    result = outcome("small_face_fullbody.jpeg")
    # When enrolled / Then refused: face too small (the framing gate, not the pixel gate)
    assert result.faces[0].quality.face_size_px > 2 * ENROLL_THRESHOLDS.min_face_px
    assert result.enroll_code == "face_too_small"


@pytest.mark.parametrize("longest_side", [1280, 960, 720, 640])
def test_framing_gate_verdict_does_not_depend_on_the_clients_downscale(
    engine: FaceEngine, edge_dir: Path, longest_side: int
) -> None:
    # Given the full-body shot downscaled on the device the way the visitor page (720 px) or an SDK does
    with Image.open(edge_dir / "small_face_fullbody.jpeg") as image:
        small = ImageOps.exif_transpose(image).convert("RGB")
    small.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90)
    # When enrolled / Then refused face_too_small as the original is (the gate measures a fraction of the
    # photo, so the client's scaling must not move it across the limit: 8.1-8.2% measured at every size)
    with pytest.raises(FaceRejected) as refused:
        engine.enroll_template(buffer.getvalue())
    assert refused.value.code == "face_too_small"


# --------------------------------------------------------------------------------------------- pose


@pytest.mark.parametrize(
    ("name", "first_reason"),
    [
        ("profile_left.jpeg", POSE_TOO_FAR),
        # a head turned 63 degrees shows under half of its eye distance: 8.3% of the shorter side, under
        # the framing gate's 8.5%, so "come closer" comes first (pose_too_far is listed too)
        ("profile_right_3q.png", FACE_TOO_SMALL),
    ],
)
def test_turned_heads_are_flagged_and_refused_for_pose(
    outcome: Callable[[str], Outcome], name: str, first_reason: str
) -> None:
    # Given a head turned or tilted far from frontal / When detected and enrolled
    result = outcome(name)
    # Then the face is flagged pose_too_far and enrollment is refused, the first issue being the reason given
    assert result.faces, "no face detected"
    assert POSE_TOO_FAR in result.faces[0].quality.issues
    assert result.faces[0].quality.issues[0] == first_reason
    assert result.enroll_code == first_reason


def test_head_tilted_down_is_flagged_for_pose(outcome: Callable[[str], Outcome]) -> None:
    # Given a portrait with the head tilted down (yaw -26 degrees, eye distance 8.8% of the shorter side)
    result = outcome("pose_looking_down.jpeg")
    # When detected / Then the quality report flags the tilt (a flag: five landmarks measure a nod too
    # loosely to refuse on it; see quality.TILT_FLAG_DEGREES)
    assert result.faces, "no face detected"
    assert HEAD_TILTED in result.faces[0].quality.flags
    assert HEAD_TILTED not in result.faces[0].quality.issues


# ------------------------------------------------------------------------------------ blur, rotation


def test_motion_blurred_dark_photo_is_refused(outcome: Callable[[str], Outcome]) -> None:
    # Given a heavily blurred, low-light photo / When enrolled
    result = outcome("blur_motion.jpg")
    # Then refused as too blurry or too dark, and the detected face carries that issue
    assert result.enroll_code in {"too_blurry", "too_dark"}
    assert result.faces and result.enroll_code in result.faces[0].quality.issues


def test_photo_rotated_by_exif_is_handled_upright(edge_dir: Path, outcome: Callable[[str], Outcome]) -> None:
    # Given a 640x480 JPEG stored sideways with EXIF orientation 6
    with Image.open(edge_dir / "rotated_90.jpeg") as image:
        assert image.size == (640, 480) and image.getexif().get(0x0112) == 6
    # When detected and enrolled
    result = outcome("rotated_90.jpeg")
    # Then the face is found in the upright (480x640) picture, upright: level eyes above the nose,
    # nose above the mouth; and enrollment works or refuses with a clear quality reason (not no_face)
    assert result.size == (480, 640)
    assert len(result.faces) == 1
    face = result.faces[0]
    eyes_y = face.landmarks[:2, 1].max()
    assert eyes_y < face.landmarks[2, 1] < face.landmarks[3:, 1].min()
    assert abs(face.quality.roll) <= 30.0
    assert result.enroll_code is None or result.enroll_code in set(ISSUE_ORDER)


# ------------------------------------------------------------------------------------------ no face


def test_landscape_without_a_face_is_refused(
    engine: FaceEngine, edge_dir: Path, outcome: Callable[[str], Outcome]
) -> None:
    # Given a landscape photo / When detected, enrolled and probed
    result = outcome("no_face_landscape.jpg")
    with pytest.raises(FaceRejected) as probed:
        engine.probe_template((edge_dir / "no_face_landscape.jpg").read_bytes())
    # Then no face is found and both enrollment and probing say no_face
    assert result.faces == []
    assert result.enroll_code == "no_face"
    assert probed.value.code == "no_face"

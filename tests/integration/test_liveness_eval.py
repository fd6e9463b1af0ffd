"""The liveness evaluation on a few identities of east-asian-dev with the real engine: generated attacks are
refused, real pose changes of one person pass, and ``facegate eval liveness --json`` keeps its keys."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from facegate.vision.engine import FaceEngine
from facegate.vision.liveness import FrameObservation, Movement, check_challenge, replay_key
from facegate_tools.cli import main
from facegate_tools.evaluation.liveness import (
    ATTACK_TYPES,
    Photo,
    bona_fide_sequences,
    held_photo_frames,
    load_photos,
    observe_frames,
    still_frames,
)

IDENTITIES = 6


@pytest.fixture(scope="module")
def east_asian_dir(shared_dir: Path) -> Path:
    path = shared_dir / "datasets" / "east-asian-dev"
    if not path.is_dir():
        pytest.skip(f"east-asian-dev not found under {path}")
    return path


@pytest.fixture(scope="module")
def photos(engine: FaceEngine, east_asian_dir: Path) -> list[Photo]:
    return load_photos(engine, east_asian_dir, max_identities=IDENTITIES)


def _frontal(photos: list[Photo]) -> Photo:
    return min(photos, key=lambda photo: abs(photo.pose[0]) + abs(photo.pose[1]))


def test_a_photo_moved_as_a_plane_is_refused(engine: FaceEngine, photos: list[Photo]) -> None:
    # Given the most frontal photo held in front of the camera and turned as a plane for straight -> left -> up
    steps = (Movement.STRAIGHT, Movement.LEFT, Movement.UP)
    frames = held_photo_frames(_frontal(photos), steps, random.Random(3), bent=False)
    # When the real engine re-detects the frames and the checks run
    observed = observe_frames(engine, frames)
    assert observed is not None, "the engine should still see the face in the rendered frames"
    verdict = check_challenge(steps, observed)
    # Then it is refused for not moving like a head
    assert not verdict.passed
    assert verdict.reason in {"no_movement", "wrong_direction", "planar"}, verdict


def test_a_still_frame_repeated_is_refused(engine: FaceEngine, photos: list[Photo]) -> None:
    # Given one photo sent for both steps with fresh noise and JPEG encodings
    steps = (Movement.STRAIGHT, Movement.RIGHT)
    observed = observe_frames(engine, still_frames(_frontal(photos), 2, random.Random(4)))
    assert observed is not None
    # When checked / Then refused
    assert check_challenge(steps, observed).reason == "no_movement"


def test_real_pose_changes_of_one_person_pass(photos: list[Photo]) -> None:
    # Given sequences of photos of one person whose landmarks show the asked movements
    sequences = bona_fide_sequences(photos, random.Random(0))
    assert len(sequences) >= 5, "the subset should hold several real pose changes"
    # When checked
    verdicts = [check_challenge(s.steps, s.observations()) for s in sequences]
    # Then each passes unless it is refused for the proxy's weakness (photos of other days: different_people)
    assert sum(v.passed for v in verdicts) >= 0.7 * len(verdicts)
    assert {v.reason for v in verdicts if not v.passed} <= {"different_people"}


def test_frames_of_two_people_spliced_are_refused(photos: list[Photo]) -> None:
    # Given a real turn of one person whose straight frame is swapped for another person's straight photo
    passing = [
        s for s in bona_fide_sequences(photos, random.Random(0)) if check_challenge(s.steps, s.observations()).passed
    ]
    sequence = passing[0]
    first = sequence.photos[0]
    stranger = _frontal([p for p in photos if p.identity != first.identity])
    frames = sequence.observations()
    frames[0] = FrameObservation(
        stranger.observation.landmarks, stranger.observation.descriptor, stranger.observation.fingerprint, 0
    )
    # When checked / Then refused as different people
    assert check_challenge(sequence.steps, frames).reason == "different_people"
    # And the same real turn replayed against its own remembered keys is refused
    seen = [replay_key(p.observation.descriptor) for p in sequence.photos]
    assert check_challenge(sequence.steps, sequence.observations(), seen).reason == "replayed_frames"


def test_a_busy_door_does_not_take_a_new_visitor_for_a_replay(photos: list[Photo]) -> None:
    # Given real turns of people, and a door that remembers the frames of everyone else in the data set
    passing = [
        s for s in bona_fide_sequences(photos, random.Random(0)) if check_challenge(s.steps, s.observations()).passed
    ]
    assert passing, "the data set has no passing real turn"
    for sequence in passing:
        crowd = [replay_key(p.observation.descriptor) for p in photos if p.identity != sequence.photos[0].identity]
        # When each turn is checked against that memory / Then none is refused as a replay
        verdict = check_challenge(sequence.steps, sequence.observations(), crowd)
        assert verdict.passed, (sequence.photos[0].identity, verdict)


def test_cli_json_has_the_contract_keys(
    models: Path, east_asian_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the models and two identities
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(models))
    # When the evaluation runs with --json on a small subset
    status = main(
        [
            "eval",
            "liveness",
            "--root",
            str(east_asian_dir),
            "--seed",
            "1",
            "--max-identities",
            "2",
            "--max-sources",
            "2",
            "--json",
        ]
    )
    # Then it prints APCER per attack type, BPCER and the counts under the contract's keys
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["apcer"]) == set(ATTACK_TYPES) == {"planar", "still", "replay", "splice", "bent"}
    assert set(report["n_attacks"]) == set(ATTACK_TYPES)
    assert report["n_attacks"]["planar"] == 2 and report["n_attacks"]["still"] == 2
    assert isinstance(report["n_bona_fide"], int) and report["n_bona_fide"] > 0
    assert report["bpcer"] is None or 0.0 <= report["bpcer"] <= 1.0
    for kind in ("planar", "still"):
        assert report["apcer"][kind] == 0.0


def test_cli_refuses_a_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When the root does not exist / Then usage error 2 with a message
    assert main(["eval", "liveness", "--root", str(tmp_path / "absent")]) == 2
    assert "not a folder" in capsys.readouterr().err


def _write_recording(root: Path, name: str, steps: tuple[Movement, ...], frames: list[bytes], kind: str = "") -> None:
    folder = root / name
    folder.mkdir()
    (folder / "steps.txt").write_text(" ".join(step.value for step in steps) + "\n")
    if kind:
        (folder / "kind.txt").write_text(kind)
    for step, data in enumerate(frames):
        (folder / f"{step}-frame.jpg").write_bytes(data)


def test_recorded_challenges_are_judged_as_the_door_judges_them(
    engine: FaceEngine,
    photos: list[Photo],
    models: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a field test's folder: a real turn of one person (bona fide), a photo moved as a plane ("print") and
    # a still photo ("screen"), each recorded as steps.txt and one frame per step
    passing = [
        s for s in bona_fide_sequences(photos, random.Random(0)) if check_challenge(s.steps, s.observations()).passed
    ]
    assert passing, "the subset should hold a passing real turn"
    turn = passing[0]
    _write_recording(tmp_path, "a-turn", turn.steps, [photo.data for photo in turn.photos])
    planar_steps = (Movement.STRAIGHT, Movement.LEFT, Movement.UP)
    planar = held_photo_frames(_frontal(photos), planar_steps, random.Random(3), bent=False)
    _write_recording(tmp_path, "b-print", planar_steps, planar, kind="print")
    still_steps = (Movement.STRAIGHT, Movement.RIGHT)
    still = still_frames(_frontal(photos), 2, random.Random(4))
    _write_recording(tmp_path, "c-screen", still_steps, still, kind="screen")
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(models))

    # When the recordings are evaluated
    status = main(["eval", "liveness", "--recorded", str(tmp_path), "--json"])

    # Then each verdict is the door's verdict on the same frames, and BPCER / APCER count them
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    expected = {}
    for name, steps, frames in (
        ("a-turn", turn.steps, [photo.data for photo in turn.photos]),
        ("b-print", planar_steps, planar),
        ("c-screen", still_steps, still),
    ):
        observed = observe_frames(engine, frames)
        assert observed is not None
        expected[name] = check_challenge(steps, observed)
    assert {line["name"]: (line["passed"], line["reason"]) for line in report["recordings"]} == {
        name: (verdict.passed, verdict.reason) for name, verdict in expected.items()
    }
    assert report["n_bona_fide"] == 1 and report["bpcer"] == 0.0
    assert report["n_attacks"] == {"print": 1, "screen": 1}
    assert report["apcer"] == {"print": 0.0, "screen": 0.0}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"0-a.jpg": b"x", "1-a.jpg": b"x"}, "steps.txt is missing"),
        ({"steps.txt": b"straight sideways", "0-a.jpg": b"x", "1-a.jpg": b"x"}, "steps are"),
        ({"steps.txt": b"straight left left", "0-a.jpg": b"x"}, "no two consecutive equal"),
        ({"steps.txt": b"straight,left", "0-a.jpg": b"x"}, "no frame for step 1"),
        ({"steps.txt": b"straight left", "0-a.jpg": b"x", "1-a.jpg": b"x", "2-a.jpg": b"x"}, "names step 2"),
        ({"steps.txt": b"straight left", "kind.txt": b"Print Attack!", "0-a.jpg": b"x", "1-a.jpg": b"x"}, "kind.txt"),
        ({"steps.txt": b"\xff\xfe straight", "0-a.jpg": b"x"}, "not UTF-8"),
    ],
)
def test_a_malformed_recording_is_a_usage_error_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, bytes], message: str
) -> None:
    # Given a recording folder that breaks the layout
    folder = tmp_path / "visitor-07"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # When it is evaluated / Then usage error 2, naming the folder and what is wrong (before any engine work)
    assert main(["eval", "liveness", "--recorded", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "visitor-07" in error and message in error, error


def test_a_recorded_frame_that_is_not_an_image_is_a_usage_error(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a well-formed recording whose second frame is not an image
    monkeypatch.setenv("FACEGATE_MODEL_DIR", str(models))
    _write_recording(tmp_path, "visitor-08", (Movement.STRAIGHT, Movement.LEFT), [b"\xff\xd8 not a jpeg", b"junk"])
    # When it is evaluated / Then usage error 2 naming the recording and the decoder's code
    assert main(["eval", "liveness", "--recorded", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "visitor-08" in error and "could not be read" in error, error


def test_recorded_needs_a_folder_with_recordings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When the folder is missing or empty / Then usage error 2 with a message
    assert main(["eval", "liveness", "--recorded", str(tmp_path / "absent")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["eval", "liveness", "--recorded", str(tmp_path)]) == 2
    assert "no recording" in capsys.readouterr().err

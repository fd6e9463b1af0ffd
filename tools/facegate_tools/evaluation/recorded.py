"""``facegate eval liveness --recorded DIR``: the liveness checks on recorded challenges (a field test).

The photo proxy of :mod:`facegate_tools.evaluation.liveness` cannot say how real visitors turn when a kiosk
prompts them, nor how a real print or screen looks to the camera. A field test records them: consenting people
following the prompts (bona fide) and, if wanted, real attacks (a printed photo, a phone screen, a mask). Each
recording is one folder:

* ``steps.txt``: the challenge's steps in order, separated by spaces, commas or new lines (``straight left
  up``); two or more, no two consecutive equal;
* ``kind.txt`` (optional): ``bona_fide`` (the default) or a label of the attack (``print``, ``screen``, ...);
* frames named ``<step>-<anything>.<jpg|jpeg|png|heic|heif|webp>``, the step counted from 0 (``0-a.jpg``,
  ``1-a.jpg``); at least one frame per step, at most :data:`MAX_FRAMES` per recording.

Every recording is judged by :func:`facegate.vision.liveness.check_challenge` with the shipped thresholds,
exactly as the door judges a challenge (no replay memory: recordings are independent). The report gives BPCER
over the bona fide recordings, APCER per attack label, the reasons, every measured value's quantiles (to set
thresholds from) and one line per recording. Nothing is written; frames are read, not kept.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from facegate.errors import FacegateError, FaceRejected
from facegate.vision.engine import FaceEngine
from facegate.vision.liveness import (
    LIVENESS_THRESHOLDS,
    FrameObservation,
    LivenessThresholds,
    Movement,
    check_challenge,
    fingerprint,
)
from facegate_tools.evaluation.liveness import Measures, Tally, rate
from facegate_tools.evaluation.runner import progress

BONA_FIDE: Final = "bona_fide"
MAX_FRAMES: Final = 12
FRAME_NAME: Final = re.compile(r"^(\d+)-.*\.(jpe?g|png|heic|heif|webp)$", re.IGNORECASE)
_SEPARATORS: Final = re.compile(r"[\s,]+")
_LABEL: Final = re.compile(r"^[a-z0-9_]{1,40}$")


class RecordingError(ValueError):
    """A recording folder that does not follow the layout (the message names the folder and what is wrong)."""


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded challenge: its steps, what it is, and its frames with their step index."""

    name: str
    kind: str
    steps: tuple[Movement, ...]
    frames: tuple[tuple[int, Path], ...]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordingError(f"{path.parent.name}: {path.name} is not UTF-8 text") from None


def read_recording(folder: Path) -> Recording:
    """The recording in ``folder``.

    Raises:
        RecordingError: no or bad ``steps.txt``, a bad ``kind.txt`` (either not UTF-8 text), a frame of an
            unknown step, a step without a frame, or more than :data:`MAX_FRAMES` frames.
    """
    steps_file = folder / "steps.txt"
    if not steps_file.is_file():
        raise RecordingError(f"{folder.name}: steps.txt is missing")
    words = [w for w in _SEPARATORS.split(_text(steps_file).strip().lower()) if w]
    try:
        steps = tuple(Movement(word) for word in words)
    except ValueError:
        allowed = ", ".join(m.value for m in Movement)
        raise RecordingError(f"{folder.name}: steps.txt holds {words}; steps are {allowed}") from None
    if len(steps) < 2 or any(a == b for a, b in itertools.pairwise(steps)):
        raise RecordingError(f"{folder.name}: a challenge has two or more steps, no two consecutive equal")
    kind_file = folder / "kind.txt"
    kind = _text(kind_file).strip().lower() if kind_file.is_file() else BONA_FIDE
    if not _LABEL.match(kind):
        raise RecordingError(f"{folder.name}: kind.txt should hold bona_fide or a short label (a-z, 0-9, _)")
    frames = []
    for path in sorted(folder.iterdir()):
        match = FRAME_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        step = int(match.group(1))
        if step >= len(steps):
            raise RecordingError(f"{folder.name}: {path.name} names step {step}, the challenge has {len(steps)}")
        frames.append((step, path))
    if len(frames) > MAX_FRAMES:
        raise RecordingError(f"{folder.name}: {len(frames)} frames, at most {MAX_FRAMES}")
    missing = sorted(set(range(len(steps))) - {step for step, _ in frames})
    if missing:
        raise RecordingError(f"{folder.name}: no frame for step {', '.join(map(str, missing))} (name frames 0-*.jpg)")
    frames.sort(key=lambda item: (item[0], item[1].name))
    return Recording(folder.name, kind, steps, tuple(frames))


def read_recordings(root: Path) -> list[Recording]:
    """Every recording under ``root`` (one folder each, sorted by name; hidden folders are skipped).

    Raises:
        RecordingError: ``root`` holds no recording, or one of them is malformed.
    """
    folders = [f for f in sorted(root.iterdir()) if f.is_dir() and not f.name.startswith(".")]
    recordings = [read_recording(folder) for folder in folders]
    if not recordings:
        raise RecordingError(f"{root} holds no recording folder (see facegate eval liveness --help)")
    return recordings


def evaluate_recorded(
    engine: FaceEngine,
    root: Path,
    recordings: Sequence[Recording] | None = None,
    thresholds: LivenessThresholds = LIVENESS_THRESHOLDS,
) -> dict[str, Any]:
    """BPCER over the bona fide recordings under ``root`` and APCER per attack label (see the module docstring).

    ``recordings``: already read from ``root`` (by default they are read here). A recording with a frame in which
    the engine finds no face counts as refused (``no_face``).

    Raises:
        RecordingError: as :func:`read_recordings`, or a frame that cannot be decoded (not an image, too large).
    """
    recordings = read_recordings(root) if recordings is None else recordings
    tallies: dict[str, Tally] = {}
    measures = Measures()
    lines = []
    for recording in progress(recordings, "recorded "):
        tally = tallies.setdefault(recording.kind, Tally())
        try:
            observed = engine.observe([path.read_bytes() for _, path in recording.frames])
        except FaceRejected:
            tally.add(None)
            lines.append({"name": recording.name, "kind": recording.kind, "passed": False, "reason": "no_face"})
            continue
        except FacegateError as error:
            raise RecordingError(f"{recording.name}: a frame could not be read ({error.code})") from None
        observations = [
            FrameObservation(detection.landmarks, descriptor, fingerprint(chip), step)
            for (detection, descriptor, chip), (step, _) in zip(observed, recording.frames, strict=True)
        ]
        verdict = check_challenge(recording.steps, observations, (), thresholds)
        tally.add(verdict)
        measures.add(recording.kind, recording.steps, observations, verdict)
        lines.append(
            {
                "name": recording.name,
                "kind": recording.kind,
                "steps": " ".join(step.value for step in recording.steps),
                "passed": verdict.passed,
                "reason": verdict.reason,
                "yaw_change": round(verdict.yaw_change, 4),
                "pitch_change": round(verdict.pitch_change, 4),
                "parallax": round(verdict.parallax, 4),
            }
        )
    bona = tallies.get(BONA_FIDE, Tally())
    attacks = {kind: tally for kind, tally in sorted(tallies.items()) if kind != BONA_FIDE}
    return {
        "root": str(root),
        "model_id": engine.model_id,
        "thresholds": dataclasses.asdict(thresholds),
        "bpcer": rate(bona.total - bona.accepted, bona.total),
        "n_bona_fide": bona.total,
        "n_bona_fide_refused": bona.total - bona.accepted,
        "apcer": {kind: rate(t.accepted, t.total) for kind, t in attacks.items()},
        "n_attacks": {kind: t.total for kind, t in attacks.items()},
        "n_attacks_accepted": {kind: t.accepted for kind, t in attacks.items()},
        "undetected": {kind: t.undetected for kind, t in tallies.items()},
        "measures": measures.report(),
        "recordings": lines,
    }


def print_recorded(report: dict[str, Any]) -> None:
    """The human-readable summary of :func:`evaluate_recorded`."""
    print(f"recorded challenges under {report['root']} ({report['model_id']})")
    bpcer = report["bpcer"]
    shown = "n/a" if bpcer is None else f"{100 * bpcer:.2f}%"
    print(f"  BPCER          {shown:>8s}  ({report['n_bona_fide_refused']}/{report['n_bona_fide']} refused)")
    for kind, share in report["apcer"].items():
        shown = "n/a" if share is None else f"{100 * share:.2f}%"
        print(f"  APCER {kind:8s} {shown:>8s}  ({report['n_attacks_accepted'][kind]}/{report['n_attacks'][kind]})")
    for line in report["recordings"]:
        verdict = "passed" if line["passed"] else f"refused: {line['reason']}"
        print(f"  {line['name']:24s} {line['kind']:12s} {line.get('steps', ''):24s} {verdict}")
    print(f"  thresholds {report['thresholds']}")

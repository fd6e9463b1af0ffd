"""Liveness at the door: head-turn challenges and terminal attestation (the checks are
:mod:`facegate.vision.liveness`; the door use case, :mod:`facegate.usecases.door`, calls this module).

Challenge protocol (``POST /doors/{door_id}/challenge`` then ``POST /doors/{door_id}/verify``):

* A challenge is :data:`CHALLENGE_STEPS` steps: ``straight`` and then two different movements drawn at random
  from left, right, up and down (12 sequences, so a pre-recorded video of one sequence matches 1 challenge in
  12 and must also beat the parallax, duplicate and replay checks). It is valid for
  ``Settings.challenge_ttl_seconds`` (10 s), bound to the terminal and the door it was issued for, and accepted
  once: the verify request takes it out of storage (an atomic delete) whatever the outcome.
* The verify request names it in the signed header ``X-Facegate-Challenge`` and carries the frames as
  ``frame`` parts in step order, the same number for every step (1 or 2): frame ``i`` answers step
  ``i // (frames / steps)``.
* The frames are checked before any matching (consistency, movement, parallax, duplicates, replays of frames
  of earlier accepted challenges at this door). On success one frame per step (the detector's most confident)
  is fused into the probe, so F = the number of steps; their replay keys are remembered at the door for
  ``Settings.liveness_replay_seconds`` to ``2 x`` that.

Terminal attestation: a terminal registered with ``attests_liveness`` may send its own verdict in the signed
header ``X-Facegate-Liveness: passed|failed``. A ``passed`` counts as liveness evidence only where the site
set ``accept_terminal_liveness`` (a trust decision of the site owner: the terminal's hardware is trusted, not
checked). A ``failed`` verdict is always honoured: it can only deny.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from facegate.domain.models import Challenge, LivenessEvidence, Movement, Site, Terminal
from facegate.errors import FaceRejected, InvalidRequest
from facegate.ports import FaceEnginePort
from facegate.vision import liveness as checks
from facegate.vision.types import Template

CHALLENGE_STEPS = 3
"""Steps per challenge: ``straight`` and two different movements."""
MOVEMENTS = (Movement.LEFT, Movement.RIGHT, Movement.UP, Movement.DOWN)
MAX_FRAMES_PER_STEP = 2
MAX_CHALLENGE_FRAMES = CHALLENGE_STEPS * MAX_FRAMES_PER_STEP
VERDICTS = frozenset({"passed", "failed"})
"""Values of the ``X-Facegate-Liveness`` header."""
CHALLENGE_INVALID = "challenge_invalid"
"""Audit sub-reason: the challenge id is unknown, already used or expired."""
CHALLENGE_MISMATCH = "challenge_mismatch"
"""Audit sub-reason: the challenge was issued to another terminal or for another door."""
TERMINAL_FAILED = "terminal_failed"
"""Audit sub-reason: the terminal's own presentation-attack detection said ``failed``."""
_RANDOM = secrets.SystemRandom()


def new_steps(count: int = CHALLENGE_STEPS, movements: Sequence[Movement] = MOVEMENTS) -> tuple[Movement, ...]:
    """A random sequence: ``straight``, then ``count - 1`` different ``movements`` (cryptographic randomness).

    A terminal may restrict the movements to at least two (e.g. ``left``/``right`` where looking up or down is
    awkward); with two, only 2 sequences remain (a weaker defence against pre-recorded videos).

    Raises:
        InvalidRequest: fewer than ``count - 1`` different movements, or ``straight`` among them.
    """
    pool = list(dict.fromkeys(movements))
    if Movement.STRAIGHT in pool or len(pool) < count - 1:
        raise InvalidRequest(f"name at least {count - 1} different movements of left, right, up, down")
    moves = _RANDOM.sample(pool, count - 1)
    return (Movement.STRAIGHT, *moves)


ENROLLMENT_POSES = (Movement.STRAIGHT, Movement.LEFT, Movement.RIGHT)
"""The poses of the three guided selfies, in the order the visitor page asks for them (the visitor's own left)."""


def enrollment_refusal(engine: FaceEnginePort, images: Sequence[bytes]) -> str | None:
    """Why the first three selfies do not show one live head in :data:`ENROLLMENT_POSES` (the door checks, no
    replay memory), or None when they do."""
    if len(images) < len(ENROLLMENT_POSES):
        return checks.TOO_FEW_FRAMES
    try:
        observed = engine.observe(list(images[: len(ENROLLMENT_POSES)]))
    except FaceRejected:
        return "no_face"
    observations = [
        checks.FrameObservation(detection.landmarks, descriptor, checks.fingerprint(chip), step)
        for step, (detection, descriptor, chip) in enumerate(observed)
    ]
    verdict = checks.check_challenge([checks.Movement(p.value) for p in ENROLLMENT_POSES], observations)
    return None if verdict.passed else verdict.reason


def fingerprint_scope(site_id: str, door_id: str) -> str:
    """The ephemeral key under which a door remembers the fingerprints of accepted challenge frames."""
    return f"liveness#{site_id}#{door_id}"


def frames_per_step(challenge: Challenge, n_frames: int) -> int:
    """How many frames answer each step.

    Raises:
        InvalidRequest: ``invalid_parts`` unless every step has the same 1 or 2 frames.
    """
    steps = len(challenge.steps)
    per_step, rest = divmod(n_frames, steps)
    if rest or not 1 <= per_step <= MAX_FRAMES_PER_STEP:
        raise InvalidRequest(
            f"send 1 or 2 frames per challenge step, in step order ({steps} steps: {steps} or {2 * steps} frames)",
            code="invalid_parts",
        )
    return per_step


@dataclass(frozen=True, slots=True)
class LivenessResult:
    """What the door decision learns from the liveness evidence of one request.

    Attributes:
        passed: True (evidence passed), False (a check failed: deny before matching), None (no evidence).
        evidence: which evidence the request carried (challenge, terminal), for the audit.
        reason: the audit sub-reason of a failure (``facegate.vision.liveness.REASONS`` or this module's).
        probe: the probe fused from a passed challenge's frames (None otherwise).
        no_face: a challenge frame held no face (the public answer is ``retry``, as for any missing face).
        details: measured values for the audit (never images, never fingerprints).
        fingerprints: :func:`~facegate.vision.liveness.replay_key` of a passed challenge's frames (remembered
            at the door against replays).
    """

    passed: bool | None
    evidence: tuple[LivenessEvidence, ...] = ()
    reason: str | None = None
    probe: Template | None = None
    no_face: bool = False
    details: dict[str, str] = field(default_factory=dict)
    fingerprints: tuple[int, ...] = ()

    def audit_details(self) -> dict[str, str]:
        """``liveness`` (passed, failed or none), ``liveness_evidence`` and the sub-reason and measurements."""
        out = {
            "liveness": "none" if self.passed is None else "passed" if self.passed else "failed",
            "liveness_evidence": "+".join(e.value for e in self.evidence) or LivenessEvidence.NONE.value,
            **self.details,
        }
        if self.reason is not None:
            out["liveness_reason"] = self.reason
        return out


NO_EVIDENCE = LivenessResult(passed=None)


def check_challenge_frames(
    engine: FaceEnginePort,
    challenge: Challenge | None,
    terminal: Terminal,
    door_id: str,
    frames: Sequence[bytes],
    seen: Sequence[int],
    now: datetime,
) -> LivenessResult:
    """Check the frames of a challenge (taken from storage by the caller: None = unknown, used or expired).

    Raises:
        ImageRejected / PayloadTooLarge: an undecodable or unsafe frame.
    """
    evidence = (LivenessEvidence.CHALLENGE,)
    if challenge is None or challenge.expires_at <= now:
        return LivenessResult(passed=False, evidence=evidence, reason=CHALLENGE_INVALID)
    if challenge.terminal_id != terminal.terminal_id or challenge.door_id != door_id:
        return LivenessResult(passed=False, evidence=evidence, reason=CHALLENGE_MISMATCH)
    per_step = frames_per_step(challenge, len(frames))
    try:
        observed = engine.observe(list(frames))
    except FaceRejected:
        return LivenessResult(passed=None, evidence=evidence, reason="no_face", no_face=True)
    observations = [
        checks.FrameObservation(
            landmarks=detection.landmarks,
            descriptor=descriptor,
            fingerprint=checks.fingerprint(chip),
            step=index // per_step,
        )
        for index, (detection, descriptor, chip) in enumerate(observed)
    ]
    steps = [checks.Movement(step.value) for step in challenge.steps]
    verdict = checks.check_challenge(steps, observations, seen)
    details = {
        "challenge_steps": ",".join(step.value for step in challenge.steps),
        "yaw_change": f"{verdict.yaw_change:.3f}",
        "pitch_change": f"{verdict.pitch_change:.3f}",
        "parallax": f"{verdict.parallax:.3f}",
    }
    if not verdict.passed:
        return LivenessResult(passed=False, evidence=evidence, reason=verdict.reason, details=details)
    chosen = []
    for step in range(len(challenge.steps)):
        group = [i for i in range(len(observed)) if i // per_step == step]
        chosen.append(max(group, key=lambda i: observed[i][0].score))
    mean = np.mean(np.stack([observed[i][1] for i in chosen]).astype(np.float32), axis=0)
    vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    probe = Template(vector=vector, model_id=engine.model_id, n_images=len(chosen))
    fingerprints = tuple(checks.replay_key(descriptor) for _, descriptor, _ in observed)
    return LivenessResult(passed=True, evidence=evidence, probe=probe, details=details, fingerprints=fingerprints)


def attestation(terminal: Terminal, site: Site, verdict: str | None) -> LivenessResult:
    """The liveness evidence of a terminal's own signed verdict (see the module docstring)."""
    if verdict is None:
        return NO_EVIDENCE
    if verdict == "failed":
        return LivenessResult(passed=False, evidence=(LivenessEvidence.TERMINAL,), reason=TERMINAL_FAILED)
    if terminal.attests_liveness and site.accept_terminal_liveness:
        return LivenessResult(passed=True, evidence=(LivenessEvidence.TERMINAL,))
    return LivenessResult(passed=None, details={"terminal_liveness": "not_trusted"})


def combine(challenge: LivenessResult | None, attested: LivenessResult) -> LivenessResult:
    """Both kinds of evidence of one request: any failure fails; else any pass passes."""
    if challenge is None:
        return attested
    if attested.passed is None or challenge.passed is False:
        merged = {**attested.details, **challenge.details}
        return LivenessResult(
            challenge.passed,
            challenge.evidence,
            challenge.reason,
            challenge.probe,
            challenge.no_face,
            merged,
            challenge.fingerprints,
        )
    return LivenessResult(
        attested.passed and bool(challenge.passed),
        challenge.evidence + attested.evidence,
        challenge.reason or attested.reason,
        challenge.probe,
        challenge.no_face,
        {**attested.details, **challenge.details},
        challenge.fingerprints if attested.passed else (),
    )

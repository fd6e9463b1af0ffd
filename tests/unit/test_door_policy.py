"""The door policy: thresholds from one place, rising with N, face-only off where the target cannot be met,
every decision reason reachable, and a tail model that bounds the observed rates from above."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from facegate.domain.models import DecisionMode, DecisionReason, NextStep, SecurityLevel
from facegate.domain.policy import (
    LEVELS,
    MIN_TAIL_EXCEEDANCES,
    Calibration,
    DoorPolicy,
    per_comparison_target,
    shipped_calibration,
    tail_far,
)

LAYER = Path(__file__).resolve().parents[2] / "layers" / "facegate"
SFACE_LIKE = Calibration.normal("synthetic", impostor=(0.15, 0.13), genuine=(0.75, 0.1))
"""Roughly SFace on east-asian-dev (issue 11): impostors N(0.15, 0.13)."""


@pytest.fixture
def policy() -> DoorPolicy:
    return DoorPolicy(SFACE_LIKE)


def test_per_comparison_target_inverts_the_door_rate() -> None:
    # Given a door target of 1e-3 and N = 500 candidates
    p = per_comparison_target(1e-3, 500)
    # Then a stranger compared with 500 templates at rate p is accepted by someone at the target rate
    assert 1 - (1 - p) ** 500 == pytest.approx(1e-3, rel=1e-9)
    assert per_comparison_target(1e-3, 1) == pytest.approx(1e-3)


@pytest.mark.parametrize("level", list(SecurityLevel))
def test_face_only_threshold_rises_with_n(policy: DoorPolicy, level: SecurityLevel) -> None:
    # Given growing doors, When the face-only thresholds are resolved
    thresholds = [policy.face_only(level, n, 3, 1).threshold for n in (1, 3, 10, 30)]
    # Then every one exists and each is stricter than the last
    assert all(t is not None for t in thresholds)
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == len(thresholds)


def test_normal_tail_matches_the_textbook_quantile(policy: DoorPolicy) -> None:
    # Given normal impostors (0.15, 0.13) and a 1-in-1,000 door with N = 10
    threshold = policy.face_only(SecurityLevel.STANDARD, 10, 3, 1).threshold
    # Then the threshold is the normal quantile at 1 - p (p ~ 1e-4), plus a small confidence margin
    assert threshold is not None
    assert 0.633 <= threshold <= 0.65


def test_high_level_is_stricter_than_standard(policy: DoorPolicy) -> None:
    standard = policy.face_only(SecurityLevel.STANDARD, 10, 3, 1).threshold
    high = policy.face_only(SecurityLevel.HIGH, 10, 3, 1).threshold
    assert standard is not None and high is not None and high > standard
    assert policy.claim(SecurityLevel.HIGH, 3, 1).threshold > policy.claim(SecurityLevel.STANDARD, 3, 1).threshold  # type: ignore[operator]


def test_face_only_switches_off_where_the_target_cannot_be_met(policy: DoorPolicy) -> None:
    # Given a large door where the 1-in-1,000 threshold would let fewer than half of visitors through
    off = policy.face_only(SecurityLevel.STANDARD, 1000, 3, 1)
    # Then face-only is off there
    assert off.threshold is None
    # And a perfect face match is still denied with claim_required, and the kiosk asks for the code
    scores = [0.99] + [0.1] * 999
    decision = policy.decide_face_only(SecurityLevel.STANDARD, [f"v{i}" for i in range(1000)], scores, [3] * 1000, 1)
    assert (decision.granted, decision.reason) == (False, DecisionReason.CLAIM_REQUIRED)
    assert decision.next_step is NextStep.SHOW_CODE
    # But the claim code still works for that visitor
    claim = policy.decide_claim(SecurityLevel.STANDARD, "v0", 0.99, 3, 1, 1000)
    assert claim.granted


def test_every_reason_is_reachable(policy: DoorPolicy) -> None:
    # Given a standard site with a small door
    level = SecurityLevel.STANDARD
    ids = ["a", "b", "c"]
    t = policy.face_only(level, 3, 3, 1).threshold
    assert t is not None
    decisions = [
        policy.no_face(level, DecisionMode.IDENTIFY, 3),
        policy.decide_face_only(level, [], [], [], 1),
        policy.decide_face_only(level, ids, [t + 0.1, 0.1, 0.0], [3, 3, 3], 1),
        policy.decide_face_only(level, ids, [t - 0.05, 0.1, 0.0], [3, 3, 3], 1),
        policy.decide_face_only(level, ids, [t + 0.1, t + 0.1 - policy.margin / 2, 0.0], [3, 3, 3], 1),
        policy.decide_face_only(level, ["v"] * 1000, [0.99] * 1000, [3] * 1000, 1),
        policy.decide_claim(level, None, None, 1, 1, 3),
        policy.decide_claim(level, "a", 0.1, 3, 1, 3),
        policy.decide_claim(level, "a", 0.95, 3, 1, 3),
        policy.decide_claim(level, "a", None, 3, 1, 3, stale_model=True),
        policy.liveness_failed(level, DecisionMode.IDENTIFY, 3, 3),
        policy.face_only_suspended(level, 3, 1),
        policy.claim_blocked(level, 3, 1),
    ]
    reasons = [d.reason for d in decisions]
    # Then every reason comes out, each deny maps to a public next step and each decision names its level
    assert set(reasons) == set(DecisionReason)
    assert reasons[2] == DecisionReason.MATCH and decisions[2].visitor_id == "a" and decisions[2].threshold == t
    assert reasons[4] == DecisionReason.AMBIGUOUS
    assert all(d.level is level for d in decisions)
    assert all((d.next_step is None) == d.granted for d in decisions)


def test_high_level_face_only_needs_liveness(policy: DoorPolicy) -> None:
    # Given a clear face-only match at a small door
    t = policy.face_only(SecurityLevel.HIGH, 2, 3, 1).threshold
    assert t is not None
    args = (["a", "b"], [t + 0.1, 0.0], [3, 3], 1)
    # When liveness passed, Then it grants; without liveness evidence (None) or with a failed check, high asks
    # for the code (issue 16: the liveness check exists now)
    assert policy.decide_face_only(SecurityLevel.HIGH, *args, liveness_passed=True).granted
    assert policy.decide_face_only(SecurityLevel.HIGH, *args).reason is DecisionReason.CLAIM_REQUIRED
    failed = policy.decide_face_only(SecurityLevel.HIGH, *args, liveness_passed=False)
    assert failed.reason is DecisionReason.CLAIM_REQUIRED
    # And standard does not require it
    assert policy.decide_face_only(SecurityLevel.STANDARD, *args, liveness_passed=False).granted


def test_claim_threshold_does_not_depend_on_n(policy: DoorPolicy) -> None:
    # The claim check is 1:1: N never enters it
    near = policy.decide_claim(SecurityLevel.STANDARD, "a", 0.5, 3, 1, 1)
    far = policy.decide_claim(SecurityLevel.STANDARD, "a", 0.5, 3, 1, 10_000)
    assert near.threshold == far.threshold
    assert policy.claim(SecurityLevel.STANDARD, 3, 1).expected_far <= LEVELS[SecurityLevel.STANDARD].claim_far * 1.001


def test_summary_reports_thresholds_and_rates(policy: DoorPolicy) -> None:
    summary = policy.summary(SecurityLevel.STANDARD)
    assert summary["targets"] == {"face_only_stranger_rate": 1e-3, "claim_stranger_rate": 1e-2}
    allowed = [row for row in summary["face_only"] if row["allowed"]]
    assert allowed and all(row["stranger_accept_rate"] <= 1.001e-3 for row in allowed)
    assert any(not row["allowed"] for row in summary["face_only"])


def test_thresholds_come_from_one_place() -> None:
    # Given the core package, Then no module besides the policy defines a decision threshold
    assert importlib.util.find_spec("facegate.vision.thresholds") is None
    from facegate.settings import Settings
    from facegate.vision.engine import FaceEngine

    assert not hasattr(FaceEngine, "identify_threshold") and not hasattr(FaceEngine, "claim_threshold")
    assert not {"identify_threshold", "claim_threshold"} & set(Settings.__dataclass_fields__)
    offenders = []
    for path in LAYER.rglob("*.py"):
        if path.name == "policy.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    name = getattr(target, "id", "")
                    if name in {"IDENTIFY_THRESHOLD", "CLAIM_THRESHOLD", "MATCH_THRESHOLD"}:
                        offenders.append(f"{path}:{name}")
    assert offenders == []


def test_shipped_tail_model_bounds_the_observed_rates() -> None:
    # Given the shipped calibration, When the tail model's rate is compared with what was observed
    calibration = shipped_calibration()
    checked = 0
    for cells in calibration.cells.values():
        for cell in cells.values():
            for rate, score in cell.impostor_tail:
                if rate * cell.n_impostor < MIN_TAIL_EXCEEDANCES or rate > 0.05:
                    continue
                estimate = tail_far(cell, score)
                # Then the estimate is an upper bound of the observed rate, and not wildly above it
                assert estimate >= rate * 0.999, (cell.k, cell.f, score, rate, estimate)
                checked += 1
    assert checked > 50


def test_shipped_thresholds_rise_with_n_and_are_resolved_for_every_k_f() -> None:
    policy = DoorPolicy(shipped_calibration())
    for k in range(1, 6):
        for f in range(1, 4):
            claim = policy.claim(SecurityLevel.STANDARD, k, f).threshold
            assert claim is not None and -1.0 < claim <= 1.0
            # the raw thresholds (before the usefulness check) never fall as N grows
            cells = policy._cells(k, f)
            assert cells

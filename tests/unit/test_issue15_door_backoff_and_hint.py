"""Issue 15, items 10 and 11 in the pure phase 3 of the door: the back-offs that hold a decision back
(:func:`facegate.usecases.door.held_back`) and the mask hint (:func:`facegate.usecases.door.with_hint`), plus
the SDK's reading of ``hint``."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from facegate.api.schemas import DecisionOut
from facegate.domain.matching import CandidateSet
from facegate.domain.models import DecisionReason, Hint, NextStep, SecurityLevel, Site
from facegate.domain.policy import DoorPolicy, shipped_calibration
from facegate.usecases.door import held_back, with_hint
from facegate.vision.quality import HEAD_TILTED, LOWER_FACE_COVERED
from facegate.vision.types import QualityReport, Template
from facegate_client import Decision as ClientDecision

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SITE = Site("site_1", "Sejong", "Asia/Seoul", NOW, b"blob")
EMPTY = CandidateSet.build(1, [])


@pytest.fixture(scope="module")
def policy() -> DoorPolicy:
    return DoorPolicy(shipped_calibration())


def probe(*flags: tuple[str, ...]) -> Template:
    """A probe of one frame per ``flags`` entry, each frame's quality report raising those flags."""
    reports = tuple(QualityReport(40.0, 120.0, 50.0, 120.0, 0.0, 0.0, 0.0, flags=f) for f in flags)
    vector = np.ones(128, dtype=np.float32) / np.sqrt(128.0)
    return Template(vector=vector, model_id="m", n_images=len(flags), quality=reports)


def back(policy: DoorPolicy, face: Template | None, **flags: bool) -> DecisionReason | None:
    options = {"claimed": False, "cooling": False, "code_blocked": False, **flags}
    decision = held_back(policy, SITE, EMPTY, face, "door_1", NOW, **options)
    return None if decision is None else decision.reason


def test_item10_a_cooling_terminal_suspends_face_only_matching_but_not_the_claim_mode(policy: DoorPolicy) -> None:
    # Given a usable face / When the terminal is cooling down
    face = probe(())
    suspended = held_back(policy, SITE, EMPTY, face, "door_1", NOW, claimed=False, cooling=True, code_blocked=False)
    # Then face-only matching is held back with show_code, nothing compared; the claim mode is decided as usual
    assert suspended is not None and suspended.reason is DecisionReason.FACE_ONLY_SUSPENDED
    assert suspended.next_step is NextStep.SHOW_CODE and suspended.similarity is None and not suspended.granted
    assert back(policy, face, claimed=True, cooling=True) is None
    # And without any back-off, or without a face (retry as always), nothing is held back
    assert back(policy, face) is None
    assert back(policy, None, cooling=True) is None and back(policy, None, claimed=True, code_blocked=True) is None


def test_item10_a_blocked_claim_code_is_not_compared(policy: DoorPolicy) -> None:
    # Given a usable face with a blocked claim code, at a terminal cooling down or not
    for cooling in (False, True):
        decision = held_back(
            policy, SITE, EMPTY, probe(()), "door_1", NOW, claimed=True, cooling=cooling, code_blocked=True
        )
        # Then the decision is claim_blocked: see reception, no similarity
        assert decision is not None and decision.reason is DecisionReason.CLAIM_BLOCKED
        assert decision.next_step is NextStep.SEE_RECEPTION and decision.similarity is None


def test_item11_a_deny_of_a_covered_lower_face_hints_lower_mask(policy: DoorPolicy) -> None:
    # Given denies of probes whose frames are flagged, partly flagged, not flagged, and a grant
    deny = policy.face_only_suspended(SecurityLevel.STANDARD, 3, 1)
    grant = policy.decide_claim(SecurityLevel.STANDARD, "v", 0.99, 3, 1, 3)
    assert grant.granted
    # Then a deny gets lower_mask when any frame's lower face looks covered; a grant never gets a hint
    assert with_hint(deny, probe((LOWER_FACE_COVERED,))).hint is Hint.LOWER_MASK
    assert with_hint(deny, probe((), (LOWER_FACE_COVERED, HEAD_TILTED))).hint is Hint.LOWER_MASK
    assert with_hint(deny, probe((HEAD_TILTED,))).hint is None
    assert with_hint(deny, None).hint is None
    assert with_hint(grant, probe((LOWER_FACE_COVERED,))).hint is None
    # And the hint changes nothing else about the decision
    hinted = with_hint(deny, probe((LOWER_FACE_COVERED,)))
    assert (hinted.reason, hinted.next_step, hinted.granted) == (deny.reason, deny.next_step, False)


def test_item11_the_answer_and_the_sdk_carry_hint() -> None:
    # Given the API's answer model and the SDK
    # Then hint is an optional lower_mask|null next to the unchanged next enum
    schema = DecisionOut.model_json_schema()
    assert schema["properties"]["next"]["anyOf"][0]["enum"] == ["show_code", "retry", "see_reception"]
    hint = schema["properties"]["hint"]["anyOf"][0]
    assert hint.get("enum", [hint.get("const")]) == ["lower_mask"]
    assert "hint" not in schema.get("required", [])
    # And the SDK reads it, and reads answers of servers that do not send it
    body = {"decision": "deny", "decision_id": "dec_1", "unlock_token": None, "next": "show_code"}
    assert ClientDecision.from_json({**body, "hint": "lower_mask"}).hint == "lower_mask"
    assert ClientDecision.from_json(body).hint is None

"""Issue 15, item 10: one stranger's denials must not close a door to the next visitor.

A terminal that sees ``deny_cooldown_threshold`` (5) denials within 60 s suspends face-only matching for 30 s
(a deny with ``next: show_code``, not a 429); the claim mode stays open, and a grant ends the suspension. A
claim code that is denied ``claim_code_deny_threshold`` (3) times within 15 minutes, at any terminal of the
site, is blocked for 15 minutes (``see_reception``). Each back-off that starts is an alarm: an audit record
of kind ``cooldown`` and the ``Refused`` metric that a CloudWatch alarm watches.

Real handlers over moto and the real face engine; the clock is the test's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from security_support import TEMPLATE, EnrolledDoor, Terminal, enrolled_door

from facegate_tools.local.aws import load_template
from facegate_tools.local.inprocess import ApiResponse

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@dataclass
class Door(EnrolledDoor):
    """The enrolled door, remembering the decisions it answered; fresh terminals per test."""

    decision_ids: list[str] = field(default_factory=list)
    """Decision ids of every answered attempt, in order."""

    def verify(self, terminal: Terminal, frame: bytes, claim: str | None = None) -> tuple[str, str | None]:
        """(decision, next) of one attempt: all the terminal learns."""
        response: ApiResponse = self.h.verify(terminal, self.door, frame, claim=claim)
        assert response.status == 200, response.body
        body = response.json()
        self.decision_ids.append(body["decision_id"])
        return body["decision"], body["next"]

    def audited(self, last: int) -> list[dict[str, Any]]:
        """The audit records of the last ``last`` answered attempts, in order."""
        rows = {row["event_id"]["S"]: row for row in self.audits("verify")}
        return [rows[decision_id] for decision_id in self.decision_ids[-last:]]


@pytest.fixture(scope="module")
def module_door(lfw_dev_dir: Path) -> Iterator[Door]:
    with enrolled_door(lfw_dev_dir) as base:
        yield Door(**vars(base))


@pytest.fixture
def door(module_door: Door) -> Iterator[Door]:
    yield module_door
    module_door.clock.advance(3600)


def _stranger_denied_five_times(door: Door, terminal: Terminal) -> None:
    door.clock.set_second_of_minute(0)
    for _ in range(5):
        assert door.verify(terminal, door.stranger) == ("deny", "show_code")
        door.clock.advance(2)


def test_item10_five_denies_from_one_stranger_do_not_lock_the_terminal_for_the_next_visitor(door: Door) -> None:
    # Given a stranger denied five times at a terminal within 10 s
    terminal = door.terminal()
    _stranger_denied_five_times(door, terminal)
    # When the stranger tries again, and the next visitor comes 4 s later, by face alone
    again = door.verify(terminal, door.stranger)
    door.clock.advance(4)
    face_only = door.verify(terminal, door.genuine)
    # Then neither is a 429: both are told to show their code (face-only matching is suspended, nothing compared)
    assert again == face_only == ("deny", "show_code")
    audited = door.audited(2)
    assert [row["reason"]["S"] for row in audited] == ["face_only_suspended", "face_only_suspended"]
    assert all("similarity" not in row and "threshold" not in row for row in audited)
    # When the visitor shows their code with their face, Then the door opens
    assert door.verify(terminal, door.genuine, claim=door.claim_code) == ("grant", None)


def test_item10_a_grant_at_the_terminal_ends_its_cool_down(door: Door) -> None:
    # Given a terminal whose face-only matching a stranger's five denials suspended
    terminal = door.terminal()
    _stranger_denied_five_times(door, terminal)
    assert door.verify(terminal, door.genuine) == ("deny", "show_code")
    # When a visitor is granted there with their code
    assert door.verify(terminal, door.genuine, claim=door.claim_code) == ("grant", None)
    # Then the next face is matched again at once, well within the 30 s
    door.clock.advance(1)
    assert door.verify(terminal, door.genuine) == ("grant", None)


def test_item10_without_a_grant_face_only_matching_resumes_after_30_seconds(door: Door) -> None:
    # Given a terminal whose face-only matching was suspended by five denials
    terminal, neighbour = door.terminal(), door.terminal()
    _stranger_denied_five_times(door, terminal)
    # Then another terminal at the same door is unaffected
    assert door.verify(neighbour, door.genuine) == ("grant", None)
    # When 29 s have passed since the fifth denial, Then the suspension holds; after 31 s the face is matched
    door.clock.advance(27)
    assert door.verify(terminal, door.genuine) == ("deny", "show_code")
    door.clock.advance(2)
    assert door.verify(terminal, door.genuine) == ("grant", None)


def test_item10_a_claim_code_denied_three_times_is_blocked_at_every_terminal_of_the_site(door: Door) -> None:
    # Given a stranger who holds the visitor's code and is denied with it three times at one terminal
    door.clock.set_second_of_minute(0)
    attacked, other = door.terminal(), door.terminal()
    for _ in range(3):
        assert door.verify(attacked, door.stranger, claim=door.claim_code) == ("deny", "see_reception")
        door.clock.advance(20)
    # When the code is used again, even by its visitor at another terminal
    blocked = door.verify(other, door.genuine, claim=door.claim_code)
    # Then it is not compared at all: a deny sending the person to reception (audited as claim_blocked)
    assert blocked == ("deny", "see_reception")
    (audited,) = door.audited(1)
    assert audited["reason"]["S"] == "claim_blocked" and "similarity" not in audited
    # And the visitor's face alone still opens the door; only the code is blocked
    assert door.verify(other, door.genuine) == ("grant", None)
    # When 15 minutes have passed, Then the code works again for its visitor
    door.clock.advance(14 * 60)
    assert door.verify(other, door.genuine, claim=door.claim_code) == ("deny", "see_reception")
    door.clock.advance(61)
    assert door.verify(other, door.genuine, claim=door.claim_code) == ("grant", None)


def test_item10_wrong_faces_with_different_codes_do_not_block_a_code(door: Door) -> None:
    # Given two denials with the visitor's code (below the three that block it) and unknown codes tried after
    terminal = door.terminal()
    for claim in (door.claim_code, door.claim_code, "AAAAAAAA", "BBBBBBBB"):
        assert door.verify(terminal, door.stranger, claim=claim) == ("deny", "see_reception")
    # When the visitor comes with their code, Then the door opens
    assert door.verify(terminal, door.genuine, claim=door.claim_code) == ("grant", None)


def test_item10_a_cool_down_that_starts_raises_an_alarm(door: Door, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a terminal where five denials start the cool-down, two more denials with codes follow during it,
    # and then a stranger is denied three times with the visitor's code
    terminal = door.terminal()
    before = len(door.audits("cooldown"))
    capsys.readouterr()
    _stranger_denied_five_times(door, terminal)
    for claim in ("CCCCCCCC", door.claim_code, door.claim_code, door.claim_code):
        assert door.verify(terminal, door.stranger, claim=claim) == ("deny", "see_reception")
    # Then one alarm per back-off that started is audited (kind cooldown; never the code, never a score)
    alarms = door.audits("cooldown")[before:]
    assert [(row["reason"]["S"], row["terminal_id"]["S"], row["door_id"]["S"]) for row in alarms] == [
        ("cooling_down", terminal.terminal_id, door.door),
        ("claim_blocked", terminal.terminal_id, door.door),
    ]
    details = [{key: value["S"] for key, value in row["details"]["M"].items()} for row in alarms]
    assert details == [
        {"scope": "terminal", "denials": "5", "seconds": "30"},
        {"scope": "claim_code", "denials": "3", "seconds": "900"},
    ]
    for row in alarms:
        text = json.dumps(row)
        assert door.claim_code not in text and "similarity" not in text
    # And each is counted once as the Refused metric by code, which a CloudWatch alarm watches
    out = capsys.readouterr().out.replace(" ", "")
    assert '"Refused"' in out
    assert out.count('"code":"cooling_down"') == 1 and out.count('"code":"claim_blocked"') == 1
    template = load_template(TEMPLATE)
    watched = {
        dimension["Value"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"].get("MetricName") == "Refused"
        for dimension in resource["Properties"]["Dimensions"]
        if dimension["Name"] == "code"
    }
    assert {"cooling_down", "claim_blocked"} <= watched

"""Guessing is throttled: a terminal that keeps being denied cools down (face-only matching is suspended
there; issue 15 item 10 in test_issue15_door_cooldown.py), claim codes cannot be tried in bulk, invalid
invite links are throttled per source, and API Gateway itself throttles every route.

Real handlers over moto and the real face engine; the clock is the test's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from security_support import TEMPLATE, EnrolledDoor, Terminal, enrolled_door

from facegate_tools.local.aws import load_template
from facegate_tools.local.inprocess import ApiResponse

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

VERIFY_FUNCTION = "VerifyAtDoorFunction"


@dataclass
class Gate(EnrolledDoor):
    """The enrolled door (fresh terminals per test), and a frame without a face."""

    def verify(self, terminal: Terminal, frame: bytes, **kw: Any) -> ApiResponse:
        return self.h.verify(terminal, self.door, frame, **kw)

    def verify_audits(self) -> int:
        return len(self.audits("verify"))

    def audited_reason(self, response: ApiResponse) -> str:
        """The precise reason the audit log keeps for the decision of ``response``."""
        return str(self.audit_of(response.json()["decision_id"])["reason"]["S"])

    @property
    def blank(self) -> bytes:
        return _blank_jpeg()


@functools.cache
def _blank_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def module_gate(lfw_dev_dir: Path) -> Iterator[Gate]:
    with enrolled_door(lfw_dev_dir) as base:
        yield Gate(**vars(base))


@pytest.fixture
def gate(module_gate: Gate) -> Iterator[Gate]:
    yield module_gate
    module_gate.h.services.pop(VERIFY_FUNCTION, None)
    module_gate.clock.advance(120)


def decision(response: ApiResponse) -> tuple[str, str | None]:
    """(decision, next): all a terminal learns (the precise reason is audited only)."""
    assert response.status == 200, response.body
    body = response.json()
    return body["decision"], body["next"]


def assert_throttled(response: ApiResponse, code: str, max_wait: int) -> int:
    """429 with ``code`` in the error shape and a Retry-After of 1..``max_wait`` seconds; returns it."""
    assert response.status == 429, response.body
    assert response.json()["error"]["code"] == code
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= max_wait, wait
    return wait


def test_five_denies_within_a_minute_start_a_30_second_cooldown(gate: Gate) -> None:
    # Given a terminal at which an impostor is denied five times in 16 s (at seconds 0, 4, ..., 16)
    gate.clock.set_second_of_minute(0)
    terminal, neighbour = gate.terminal(), gate.terminal()
    for _ in range(5):
        assert decision(gate.verify(terminal, gate.stranger)) == ("deny", "show_code")
        gate.clock.advance(4)
    # When the enrolled visitor comes to that terminal by face alone 4 s and 28 s later
    first = gate.verify(terminal, gate.genuine)
    gate.clock.advance(24)
    later = gate.verify(terminal, gate.genuine)
    # Then face-only matching is suspended there for the 30 s: both are asked for the code (issue 15 item 10:
    # no 429), and nothing was compared (audited as face_only_suspended), while another terminal at the same
    # door is unaffected
    assert decision(first) == decision(later) == ("deny", "show_code")
    assert gate.audited_reason(first) == gate.audited_reason(later) == "face_only_suspended"
    assert decision(gate.verify(neighbour, gate.genuine)) == ("grant", None)
    # When the 30 s have passed, Then the visitor gets in again
    gate.clock.advance(3)
    assert decision(gate.verify(terminal, gate.genuine)) == ("grant", None)


def test_four_denies_or_faceless_frames_do_not_start_a_cooldown(gate: Gate) -> None:
    # Given four impostor denies within a minute and then ten frames without a face
    terminal = gate.terminal()
    for _ in range(4):
        assert decision(gate.verify(terminal, gate.stranger)) == ("deny", "show_code")
    for _ in range(10):
        assert decision(gate.verify(terminal, gate.blank)) == ("deny", "retry")
    # When the visitor comes, Then the door opens (only denies of a face count, and there were four)
    assert decision(gate.verify(terminal, gate.genuine)) == ("grant", None)


def test_the_cooldown_follows_the_settings(gate: Gate) -> None:
    # Given a deployment configured for 3 denies in 60 s -> 10 s of cool-down
    gate.serve(VERIFY_FUNCTION, deny_cooldown_threshold=3, deny_cooldown_window_seconds=60, deny_cooldown_seconds=10)
    gate.clock.set_second_of_minute(0)
    terminal = gate.terminal()
    for _ in range(3):
        assert decision(gate.verify(terminal, gate.stranger)) == ("deny", "show_code")
    # When the next face comes, Then face-only matching is suspended for at most 10 s
    suspended = gate.verify(terminal, gate.genuine)
    assert decision(suspended) == ("deny", "show_code") and gate.audited_reason(suspended) == "face_only_suspended"
    gate.clock.advance(11)
    assert decision(gate.verify(terminal, gate.genuine)) == ("grant", None)


def test_five_denies_within_60_seconds_across_a_minute_boundary_start_a_cooldown(gate: Gate) -> None:
    # Given three denies at second 57 of a minute and two more at second 2 of the next one (5 denies in 5 s)
    gate.clock.set_second_of_minute(57)
    terminal = gate.terminal()
    for _ in range(3):
        assert decision(gate.verify(terminal, gate.stranger)) == ("deny", "show_code")
    gate.clock.advance(5)
    for _ in range(2):
        assert decision(gate.verify(terminal, gate.stranger)) == ("deny", "show_code")
    # When the next face comes, Then the terminal is cooling down (face-only matching suspended)
    suspended = gate.verify(terminal, gate.genuine)
    assert decision(suspended) == ("deny", "show_code") and gate.audited_reason(suspended) == "face_only_suspended"


def test_claim_code_attempts_per_terminal_are_rate_limited(gate: Gate) -> None:
    # Given a terminal that already made the configured 10 claim-code attempts this minute (all granted:
    # grants never count towards the cool-down, so only the claim limit is at work)
    gate.clock.set_second_of_minute(0)
    terminal, neighbour = gate.terminal(), gate.terminal()
    for _ in range(10):
        assert decision(gate.verify(terminal, gate.genuine, claim=gate.claim_code)) == ("grant", None)
    audited = gate.verify_audits()
    # When an 11th claim attempt comes, right or wrong
    right = gate.verify(terminal, gate.genuine, claim=gate.claim_code)
    wrong = gate.verify(terminal, gate.genuine, claim="ZZZZZZZZ")
    # Then both are 429 rate_limited, and nothing was decided
    assert_throttled(right, "rate_limited", 60)
    assert_throttled(wrong, "rate_limited", 60)
    assert gate.verify_audits() == audited
    # And the camera-only mode of that terminal and claims at another terminal still work
    assert decision(gate.verify(terminal, gate.genuine)) == ("grant", None)
    assert decision(gate.verify(neighbour, gate.genuine, claim=gate.claim_code)) == ("grant", None)
    # When a full minute without attempts has passed (the limit counts a sliding 60 s), Then claims work again
    gate.clock.advance(120)
    assert decision(gate.verify(terminal, gate.genuine, claim=gate.claim_code)) == ("grant", None)


def test_wrong_claim_codes_also_start_the_cooldown(gate: Gate) -> None:
    # Given a terminal at which five unknown claim codes are tried (a code-guessing attempt)
    gate.clock.set_second_of_minute(0)
    terminal = gate.terminal()
    for guess in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC", "DDDDDDDD", "EEEEEEEE"):
        assert decision(gate.verify(terminal, gate.genuine, claim=guess)) == ("deny", "see_reception")
    # When a face comes alone, Then the terminal is cooling down: face-only matching is suspended
    assert decision(gate.verify(terminal, gate.genuine)) == ("deny", "show_code")
    # And further guesses are decided (the claim mode stays open for the next visitor) until the terminal's
    # claim-attempt limit of 10 a minute answers 429 (see docs/threat-model.md for what this means for
    # guessing 40-bit codes)
    for guess in ("FFFFFFFF", "GGGGGGGG", "HHHHHHHH", "JJJJJJJJ", "KKKKKKKK"):
        assert decision(gate.verify(terminal, gate.genuine, claim=guess)) == ("deny", "see_reception")
    assert_throttled(gate.verify(terminal, gate.genuine, claim="LLLLLLLL"), "rate_limited", 60)


def test_the_claim_limit_follows_the_settings(gate: Gate) -> None:
    # Given a deployment that allows 3 claim attempts per minute and per terminal
    gate.serve(VERIFY_FUNCTION, claim_attempts_per_minute=3)
    gate.clock.set_second_of_minute(0)
    terminal = gate.terminal()
    for _ in range(3):
        assert decision(gate.verify(terminal, gate.genuine, claim=gate.claim_code))[0] == "grant"
    # When a fourth comes, Then it is refused
    assert_throttled(gate.verify(terminal, gate.genuine, claim=gate.claim_code), "rate_limited", 60)


VISITOR_ROUTES = [
    ("GET", "/register/{}/notice"),
    ("GET", "/register/{}/status"),
    ("POST", "/register/{}/consent"),
    ("POST", "/register/{}/selfie"),
    ("DELETE", "/register/{}"),
]


def _visitor_call(gate: Gate, method: str, path: str, token: str, source: str) -> ApiResponse:
    """A well-formed request to a visitor route (valid body), so that only the token decides."""
    from security_support import multipart

    from facegate.domain.notice import CONSENT_VERSION

    url = path.format(token)
    if url.endswith("/consent"):
        body = {"consent_version": CONSENT_VERSION, "accepted": True}
        return gate.h.call(method, url, json_body=body, source_ip=source)
    if url.endswith("/selfie"):
        data, content_type = multipart([gate.genuine], "image")
        return gate.h.call(method, url, body=data, headers={"content-type": content_type}, source_ip=source)
    return gate.h.call(method, url, source_ip=source)


def test_invalid_invite_tokens_are_throttled_per_source(gate: Gate) -> None:
    # Given one source that tried 20 invalid links within a minute (well-formed and malformed ones)
    gate.clock.set_second_of_minute(0)
    attacker, visitor = "192.0.2.66", "192.0.2.77"
    for i in range(20):
        guess = f"{'A' * 40}{i:03d}" if i % 2 else f"short-{i}"
        response = gate.h.call("GET", f"/register/{guess}/status", source_ip=attacker)
        assert response.status == 401 and response.error_code == "invalid_token", response.body
    # When that source guesses again, on any visitor route
    throttled = [_visitor_call(gate, method, path, "B" * 43, attacker) for method, path in VISITOR_ROUTES]
    # Then every guess is 429 rate_limited with Retry-After
    for response in throttled:
        assert_throttled(response, "rate_limited", 61)
    # And a visitor holding a valid token behind the same address is served (issue 12, item 4)
    status = gate.h.call("GET", f"/register/{gate.token}/status", source_ip=attacker)
    assert status.status == 200 and status.json()["status"] == "enrolled"
    # And another source is served normally: invalid tokens are 401, the valid one works
    other = gate.h.call("GET", f"/register/{'C' * 43}/status", source_ip=visitor)
    assert other.status == 401 and other.error_code == "invalid_token"
    status = gate.h.call("GET", f"/register/{gate.token}/status", source_ip=visitor)
    assert status.status == 200 and status.json()["status"] == "enrolled"
    # When the block ends, Then the source's guesses are answered 401 again
    gate.clock.advance(61)
    again = gate.h.call("GET", f"/register/{'B' * 43}/status", source_ip=attacker)
    assert again.status == 401 and again.error_code == "invalid_token"


def test_the_invalid_token_limit_follows_the_settings(gate: Gate) -> None:
    # Given a deployment that allows 3 invalid links per minute and source
    gate.serve("RegisterVisitorFunction", invalid_token_limit_per_minute=3)
    try:
        gate.clock.set_second_of_minute(0)
        for i in range(3):
            assert gate.h.call("GET", f"/register/{'D' * 42}{i}/notice", source_ip="192.0.2.88").status == 401
        # When a fourth comes, Then the source is throttled
        assert_throttled(gate.h.call("GET", f"/register/{'D' * 43}/notice", source_ip="192.0.2.88"), "rate_limited", 61)
    finally:
        gate.h.services.pop("RegisterVisitorFunction", None)


def test_api_gateway_throttles_every_route() -> None:
    # Given template.yaml
    template = load_template(TEMPLATE)
    api = template["Resources"]["HttpApi"]["Properties"]
    parameters = template["Parameters"]
    # Then the HTTP API's default route settings set a burst and a rate limit from parameters with positive
    # defaults (a stage without DefaultRouteSettings has only the account-wide limit of 10,000 rps)
    settings = api["DefaultRouteSettings"]
    burst, rate = settings["ThrottlingBurstLimit"], settings["ThrottlingRateLimit"]
    assert burst == {"Ref": "ApiBurstLimit"} and rate == {"Ref": "ApiRateLimit"}
    for name in ("ApiBurstLimit", "ApiRateLimit"):
        assert parameters[name]["Type"] == "Number"
        assert int(parameters[name]["Default"]) > 0 and int(parameters[name]["MinValue"]) >= 1
    assert int(parameters["ApiRateLimit"]["Default"]) <= int(parameters["ApiBurstLimit"]["Default"]) <= 5000
    # And no route overrides them with unlimited settings
    assert "RouteSettings" not in api or all(
        "ThrottlingRateLimit" in route and "ThrottlingBurstLimit" in route for route in api["RouteSettings"].values()
    )

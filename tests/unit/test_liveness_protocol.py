"""The head-turn challenge protocol over the in-memory adapters: the door policy's liveness rules, the challenge
store (single use, expiry), and challenge → verify through the HTTP handlers with synthetic landmarks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest
from synthetic_head import HEAD, flat_photo, project, unit

from facegate.adapters.memory import MemoryEphemeral, MemoryFaceEngine
from facegate.domain.models import Challenge, DecisionMode, DecisionReason, Movement, SecurityLevel
from facegate.domain.policy import DoorPolicy
from facegate.usecases import liveness
from facegate.usecases.context import Services
from helpers import multipart

if TYPE_CHECKING:
    from conftest import FakeClock, Stack

F64 = npt.NDArray[np.float64]

POSE = {
    Movement.STRAIGHT: (0.0, 0.0),
    Movement.LEFT: (28.0, 0.0),
    Movement.RIGHT: (-28.0, 0.0),
    Movement.UP: (0.0, -22.0),
    Movement.DOWN: (0.0, 22.0),
}
"""(yaw, pitch) degrees of each asked pose: + yaw = the visitor's own left (nose to the image's right)."""


VISITOR = unit(7)


@pytest.fixture
def policy() -> DoorPolicy:
    from facegate.domain.policy import shipped_calibration

    return DoorPolicy(shipped_calibration())


# -- the door policy ---------------------------------------------------------------------------------------------


def test_high_level_face_only_needs_liveness_evidence(policy: DoorPolicy) -> None:
    # Given a clear face-only match at a small door
    t = policy.face_only(SecurityLevel.HIGH, 2, 3, 2).threshold
    assert t is not None
    args = (["a", "b"], [t + 0.1, 0.0], [3, 3], 2)
    # When the attempt carries no liveness evidence at high, Then face-only entry is off for it (the code still works)
    assert policy.decide_face_only(SecurityLevel.HIGH, *args).reason is DecisionReason.CLAIM_REQUIRED
    # And with a passed challenge it grants
    assert policy.decide_face_only(SecurityLevel.HIGH, *args, liveness_passed=True).granted
    # And standard grants with or without evidence
    assert policy.decide_face_only(SecurityLevel.STANDARD, *args).granted
    assert policy.decide_face_only(SecurityLevel.STANDARD, *args, liveness_passed=True).granted
    assert policy.face_only_needs_liveness(SecurityLevel.HIGH)
    assert not policy.face_only_needs_liveness(SecurityLevel.STANDARD)


def test_failed_liveness_is_a_deny_that_says_retry(policy: DoorPolicy) -> None:
    # When the liveness check failed, in either mode and at either level
    for level in SecurityLevel:
        for mode in DecisionMode:
            decision = policy.liveness_failed(level, mode, 10, 3)
            # Then it is a deny whose public next step is retry, naming nobody
            assert not decision.granted and decision.reason is DecisionReason.LIVENESS_FAILED
            assert decision.next_step is not None and decision.next_step.value == "retry"
            assert decision.visitor_id is None and decision.similarity is None


# -- the challenge store -----------------------------------------------------------------------------------------


def test_a_challenge_is_taken_once_and_not_after_it_expires(clock: FakeClock) -> None:
    # Given two stored challenges
    store = MemoryEphemeral()
    now = clock()
    for name in ("c1", "c2"):
        store.put_challenge(Challenge(name, "term_1", "door_1", liveness.new_steps(), now, now + timedelta(seconds=10)))
    # When the first is taken twice, Then only the first take gets it
    first = store.take_challenge("c1", now + timedelta(seconds=5))
    assert first is not None and first.steps[0] is Movement.STRAIGHT
    assert store.take_challenge("c1", now + timedelta(seconds=5)) is None
    # And a challenge taken after its expiry is refused (and gone)
    assert store.take_challenge("c2", now + timedelta(seconds=10)) is None
    assert store.take_challenge("unknown", now) is None


def test_fingerprints_are_remembered_for_one_to_two_windows(clock: FakeClock) -> None:
    # Given fingerprints remembered at a door
    store = MemoryEphemeral()
    now = clock()
    store.remember_fingerprints("door", [1, 2], 300, now)
    # Then they are seen at once and one window later, not two windows later, and not at another door
    assert store.recent_fingerprints("door", 300, now) == [1, 2]
    assert store.recent_fingerprints("door", 300, now + timedelta(seconds=300)) == [1, 2]
    assert store.recent_fingerprints("door", 300, now + timedelta(seconds=600)) == []
    assert store.recent_fingerprints("other", 300, now) == []


def test_steps_start_straight_and_never_repeat() -> None:
    # When many challenges are drawn
    drawn = {liveness.new_steps() for _ in range(400)}
    # Then each is straight and two different movements, and all 12 such sequences occur
    assert all(len(s) == 3 and s[0] is Movement.STRAIGHT and len(set(s)) == 3 for s in drawn)
    assert len(drawn) == 12


# -- through the handlers ----------------------------------------------------------------------------------------


@pytest.fixture
def site(
    memory_services: Callable[..., Services], make_stack: Callable[[Services], Stack], clock: FakeClock
) -> tuple[Stack, MemoryFaceEngine]:
    """A stack on in-memory adapters with the test engine and one site."""
    engine = MemoryFaceEngine()
    stack = make_stack(memory_services(engine, clock))
    stack.create_site()
    return stack, engine


@pytest.fixture
def door(site: tuple[Stack, MemoryFaceEngine]) -> tuple[Stack, MemoryFaceEngine]:
    stack, engine = site
    invite = stack.invite()
    selfies = [b"selfie-%d" % i for i in range(3)]
    for i, selfie in enumerate(selfies):
        engine.register(selfie, VISITOR + 0.05 * unit(100 + i))
    assert stack.consent(invite["token"]).status == 201
    assert stack.enroll(invite["token"], selfies).status == 201
    return stack, engine


def signed(stack: Stack, path: str, body: bytes, content_type: str | None, **extra: str) -> dict[str, str]:
    """The stack's terminal's headers for this request (``extra``: ``challenge``, ``liveness``)."""
    return stack.signed_headers(path, body, content_type=content_type, **extra)


def ask_challenge(stack: Stack) -> dict[str, Any]:
    path = f"/doors/{stack.door_id}/challenge"
    response = stack.api.request("POST", path, body=b"", headers=signed(stack, path, b"", None))
    assert response.status == 200, response.body
    challenge: dict[str, Any] = response.json()
    return challenge


def frames_for(
    engine: MemoryFaceEngine, steps: list[str], landmarks: Callable[[Movement], F64], per_step: int = 2
) -> list[bytes]:
    frames = []
    for step in steps:
        for k in range(per_step):
            data = secrets.token_bytes(32)
            noise = np.random.default_rng(len(frames)).normal(0.0, 0.4, (5, 2))
            engine.register(data, VISITOR + 0.05 * unit(200 + len(frames) + k), landmarks(Movement(step)) + noise)
            frames.append(data)
    return frames


def verify_with(stack: Stack, challenge_id: str, frames: list[bytes], **extra: str) -> Any:
    path = f"/doors/{stack.door_id}/verify"
    body, content_type = multipart(frames, "frame")
    headers = signed(stack, path, body, content_type, challenge=challenge_id, **extra)
    return stack.api.request("POST", path, body=body, headers=headers)


def last_verify_audit(stack: Stack) -> Any:
    records = [r for r in stack.services.audit.records if r.kind.value == "verify"]  # type: ignore[attr-defined]
    return records[-1]


def live_head(step: Movement) -> F64:
    return project(HEAD, *POSE[step])


def test_a_visitor_who_follows_the_challenge_is_granted(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    # Given a challenge
    challenge = ask_challenge(stack)
    assert challenge["steps"][0] == "straight" and len(challenge["steps"]) == 3
    # When the visitor's head follows it, two frames per step
    response = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], live_head))
    # Then the door opens; the audit says the challenge passed and the probe fused one frame per step
    assert response.status == 200, response.body
    assert response.json()["decision"] == "grant"
    record = last_verify_audit(stack)
    assert record.details["liveness"] == "passed" and record.details["liveness_evidence"] == "challenge"
    assert record.details["probe_frames"] == "3"


def test_the_same_challenge_is_accepted_once(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    # Given a challenge answered once
    challenge = ask_challenge(stack)
    first = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], live_head))
    assert first.json()["decision"] == "grant"
    # When a fresh, correctly signed request names it again with fresh frames
    again = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], live_head))
    # Then it is a deny that says retry; the audit names why
    assert again.status == 200 and again.json() == {**again.json(), "decision": "deny", "next": "retry"}
    assert last_verify_audit(stack).details["liveness_reason"] == "challenge_invalid"


def test_an_expired_challenge_is_refused(door: tuple[Stack, MemoryFaceEngine], clock: FakeClock) -> None:
    stack, engine = door
    # Given a challenge answered 11 s after it was issued
    challenge = ask_challenge(stack)
    clock.advance(11)
    response = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], live_head))
    # Then it is refused
    assert response.json()["decision"] == "deny" and response.json()["next"] == "retry"
    assert last_verify_audit(stack).details["liveness_reason"] == "challenge_invalid"


def test_a_flat_photo_moved_as_asked_is_refused(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    # Given a photo of the visitor turned as a plane in the asked directions
    challenge = ask_challenge(stack)

    def moved_photo(step: Movement) -> F64:
        return flat_photo(*POSE[step])

    response = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], moved_photo))
    # Then it is refused before any matching: the audit has no similarity
    assert response.json()["decision"] == "deny" and response.json()["next"] == "retry"
    record = last_verify_audit(stack)
    assert record.reason == "liveness_failed" and record.similarity is None
    assert record.details["liveness_reason"] in {"planar", "no_movement"}


def test_frames_of_an_accepted_challenge_replayed_are_refused(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    # Given a challenge answered and granted
    first = ask_challenge(stack)
    frames = frames_for(engine, first["steps"], live_head)
    assert verify_with(stack, first["challenge_id"], frames).json()["decision"] == "grant"
    # When a new challenge with the same steps is answered with the same frames
    second = ask_challenge(stack)
    while second["steps"] != first["steps"]:
        second = ask_challenge(stack)
    response = verify_with(stack, second["challenge_id"], frames)
    # Then it is refused as a replay
    assert response.json()["decision"] == "deny"
    assert last_verify_audit(stack).details["liveness_reason"] == "replayed_frames"


def test_frame_counts_must_split_evenly_over_the_steps(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    challenge = ask_challenge(stack)
    frames = frames_for(engine, challenge["steps"], live_head)
    # When 5 frames come for 3 steps, Then the request is malformed
    response = verify_with(stack, challenge["challenge_id"], frames[:5])
    assert response.status == 400 and response.json()["error"]["code"] == "invalid_parts"


def test_the_challenge_header_is_signed(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    challenge = ask_challenge(stack)
    path = f"/doors/{stack.door_id}/verify"
    body, content_type = multipart(frames_for(engine, challenge["steps"], live_head), "frame")
    # When the challenge header is added to a request signed without it
    headers = signed(stack, path, body, content_type)
    headers["x-facegate-challenge"] = challenge["challenge_id"]
    response = stack.api.request("POST", path, body=body, headers=headers)
    # Then the signature does not match
    assert response.status == 401 and response.json()["error"]["code"] == "invalid_signature"


def test_a_high_site_asks_for_the_code_without_a_challenge(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = door
    # Given a high-security site and a face-only attempt without a challenge
    assert stack.admin("PATCH", f"/sites/{stack.site_id}", {"security_level": "high"}).status == 200
    frame = b"plain-frame"
    engine.register(frame, VISITOR)
    response = stack.verify([frame])
    # Then face-only entry is off for it: show the code
    assert response.json()["decision"] == "deny" and response.json()["next"] == "show_code"
    assert last_verify_audit(stack).reason == "claim_required"
    # And with a passed challenge the same visitor is granted
    challenge = ask_challenge(stack)
    granted = verify_with(stack, challenge["challenge_id"], frames_for(engine, challenge["steps"], live_head))
    assert granted.json()["decision"] == "grant"


# -- the SDK ------------------------------------------------------------------------------------------------------


class InProcessTransport:
    """Sends the SDK's requests to the in-process API (no sockets)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def send(self, request: Any) -> Any:
        from urllib.parse import urlsplit

        from facegate_client import HttpResponse

        split = urlsplit(request.url)
        response = self.stack.api.request(
            request.method, split.path, body=request.body or b"", headers=dict(request.headers), query=split.query
        )
        headers = {name.lower(): value for name, value in response.headers.items()}
        return HttpResponse(response.status, "", headers, response.body)


def tiny_jpeg(seed: int) -> bytes:
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_sdk_challenge_then_verify_with_it(door: tuple[Stack, MemoryFaceEngine]) -> None:
    from facegate.security.signing import canonical_string as server_canonical
    from facegate_client import Challenge, TerminalClient
    from facegate_client.signing import canonical_string

    stack, engine = door
    # Given the SDK's terminal client talking to the handlers
    client = TerminalClient(
        "http://door.test",
        stack.terminal["key_id"],
        stack.terminal["secret"],
        transport=InProcessTransport(stack),
        clock=lambda: stack.clock().timestamp(),
    )
    # When it asks for a challenge and sends one JPEG per step with it
    challenge = client.challenge(stack.door_id)
    assert isinstance(challenge, Challenge) and challenge.steps[0] == "straight"
    frames = []
    for i, step in enumerate(challenge.steps):
        data = tiny_jpeg(i)
        engine.register(data, VISITOR + 0.05 * unit(300 + i), live_head(Movement(step)))
        frames.append(data)
    decision = client.verify(frames, stack.door_id, challenge=challenge)
    # Then the door opens, and the SDK and the server sign the same string
    assert decision.granted
    args = ("POST", "/doors/d/verify", "1", "n" * 16, b"body", "ABCD2345", "chl_x", "passed")
    assert canonical_string(*args) == server_canonical(*args)


def test_a_terminal_may_restrict_the_movements(door: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, _ = door
    path = f"/doors/{stack.door_id}/challenge"

    def ask(body: bytes) -> Any:
        return stack.api.request("POST", path, body=body, headers=signed(stack, path, body, "application/json"))

    # When a terminal asks for sideways movements only
    steps = {tuple(ask(b'{"movements": ["left", "right"]}').json()["steps"]) for _ in range(20)}
    # Then only the two sideways sequences come
    assert steps == {("straight", "left", "right"), ("straight", "right", "left")}
    # And fewer than two movements, or an unknown one, is a bad request
    for body in (b'{"movements": ["left"]}', b'{"movements": ["left", "spin"]}', b"{}"):
        response = ask(body)
        assert response.status == 400, response.body


# -- terminal attestation -----------------------------------------------------------------------------------------


def test_an_attesting_terminal_counts_only_where_the_site_accepts_it(site: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = site
    # Given a high-security site, a terminal registered with its own presentation-attack detection, and a visitor
    created = stack.admin(
        "POST",
        f"/sites/{stack.site_id}/terminals",
        {"name": "3D kiosk", "door_ids": [stack.door_id], "attests_liveness": True},
    )
    assert created.status == 201 and created.json()["attests_liveness"] is True
    stack.terminal = created.json()
    invite = stack.invite()
    selfies = [b"selfie-%d" % i for i in range(3)]
    for i, selfie in enumerate(selfies):
        engine.register(selfie, VISITOR + 0.05 * unit(100 + i))
    stack.consent(invite["token"])
    assert stack.enroll(invite["token"], selfies).status == 201
    assert stack.admin("PATCH", f"/sites/{stack.site_id}", {"security_level": "high"}).status == 200
    frame = b"attested-frame"
    engine.register(frame, VISITOR)
    path = f"/doors/{stack.door_id}/verify"

    def attempt(verdict: str) -> Any:
        headers = signed(stack, path, frame, "image/jpeg", liveness=verdict)
        return stack.api.request("POST", path, body=frame, headers=headers).json()

    # When it vouches "passed" but the site has not accepted terminal verdicts, Then face-only entry stays off
    assert attempt("passed")["next"] == "show_code"
    assert last_verify_audit(stack).details["terminal_liveness"] == "not_trusted"
    # When the site accepts them (an audited trust decision), Then its "passed" counts and "failed" denies
    patched = stack.admin("PATCH", f"/sites/{stack.site_id}", {"accept_terminal_liveness": True})
    assert patched.status == 200 and patched.json()["accept_terminal_liveness"] is True
    assert attempt("passed")["decision"] == "grant"
    assert last_verify_audit(stack).details["liveness_evidence"] == "terminal"
    failed = attempt("failed")
    assert (failed["decision"], failed["next"]) == ("deny", "retry")
    assert last_verify_audit(stack).details["liveness_reason"] == "terminal_failed"
    # And an unknown verdict is a bad request
    headers = signed(stack, path, frame, "image/jpeg", liveness="maybe")
    assert stack.api.request("POST", path, body=frame, headers=headers).status == 400


# -- enrollment ---------------------------------------------------------------------------------------------------


def test_a_high_site_enrolls_only_selfies_in_the_notices_pose_order(site: tuple[Stack, MemoryFaceEngine]) -> None:
    stack, engine = site
    invite = stack.invite()
    # Given a standard site, Then its notice names no pose order and any three selfies enroll (as before)
    notice = stack.api.request("GET", f"/register/{invite['token']}/notice").json()
    assert notice["pose_order"] == []
    # Given a high-security site
    assert stack.admin("PATCH", f"/sites/{stack.site_id}", {"security_level": "high"}).status == 200
    notice = stack.api.request("GET", f"/register/{invite['token']}/notice").json()
    assert notice["pose_order"] == ["straight", "left", "right"]
    assert stack.consent(invite["token"]).status == 201
    # When three frontal pictures of one flat photo are sent, Then enrollment is refused with liveness_failed
    flat = [b"flat-%d" % i for i in range(3)]
    for i, image in enumerate(flat):
        engine.register(image, VISITOR + 0.02 * unit(400 + i), flat_photo(*POSE[notice["pose_order"][i]]))
    refused = stack.enroll(invite["token"], flat)
    assert refused.status == 422 and refused.json()["error"]["code"] == "liveness_failed"
    audit = [r for r in stack.services.audit.records if r.kind.value == "enroll_refused"]  # type: ignore[attr-defined]
    assert audit[-1].reason == "liveness_failed" and audit[-1].details["liveness_reason"] in {"planar", "no_movement"}
    # When the visitor's head shows the poses in order, Then they are enrolled
    live = [b"live-%d" % i for i in range(3)]
    for i, image in enumerate(live):
        engine.register(image, VISITOR + 0.05 * unit(500 + i), live_head(Movement(notice["pose_order"][i])))
    assert stack.enroll(invite["token"], live).status == 201


def test_cli_challenge_then_verify_with_it(
    door: tuple[Stack, MemoryFaceEngine], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import io
    import json

    from facegate_client import TerminalClient, cli

    stack, engine = door

    def client(api_url: str, key_id: str, secret: str, **_: Any) -> TerminalClient:
        clock = lambda: stack.clock().timestamp()  # noqa: E731
        return TerminalClient(api_url, key_id, secret, transport=InProcessTransport(stack), clock=clock)

    monkeypatch.setattr(cli, "TerminalClient", client)
    environ = {
        "FACEGATE_API_URL": "http://door.test",
        "FACEGATE_KEY_ID": stack.terminal["key_id"],
        "FACEGATE_SECRET": stack.terminal["secret"],
        "FACEGATE_DOOR_ID": stack.door_id,
    }
    # When the CLI asks for a sideways challenge
    out = io.StringIO()
    assert cli.main(["challenge", "--movements", "left,right"], environ=environ, stdout=out) == 0
    challenge = json.loads(out.getvalue())
    assert challenge["steps"][0] == "straight" and sorted(challenge["steps"][1:]) == ["left", "right"]
    # And verifies one photo per step with it
    paths = []
    for i, step in enumerate(challenge["steps"]):
        data = tiny_jpeg(10 + i)
        engine.register(data, VISITOR + 0.05 * unit(600 + i), live_head(Movement(step)))
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    out = io.StringIO()
    code = cli.main(["verify", *paths, "--challenge", challenge["challenge_id"]], environ=environ, stdout=out)
    # Then the door opens (exit 0)
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue())["decision"] == "grant"

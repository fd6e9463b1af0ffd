"""The backend end to end, in-process, over in-memory adapters and an in-memory face engine.

The real ONNX engine and AWS emulators are exercised in tests/integration; here the behaviour of
routes, use cases, matching and errors is pinned down quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from facegate.adapters import memory
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.security.tokens import decode_key, read_unlock_token
from facegate.usecases.context import Services
from facegate.usecases.keys import door_context


def identity(seed: int) -> np.ndarray:
    """A random identity direction in 128-d."""
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


def photo(vector: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Another 'photo' of the same identity: the unit vector plus noise of the given norm."""
    unit = vector / np.linalg.norm(vector)
    jitter = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return unit + noise * jitter / np.linalg.norm(jitter)


def last_verify(stack: Any) -> Any:
    """The newest verify audit record (the precise reason lives only there)."""
    return [r for r in stack.services.audit.records if r.kind.value == "verify"][-1]


@pytest.fixture
def engine() -> memory.MemoryFaceEngine:
    """Person A: selfies a1-a3 and door frame a4 (same identity); person B: frame b1."""
    eng = memory.MemoryFaceEngine()
    alice, bob = identity(1), identity(2)
    for i in range(1, 5):
        eng.register(f"a{i}".encode(), photo(alice, 0.15, i))
    eng.register(b"b1", photo(bob, 0.15, 10))
    eng.register(b"group", "multiple_faces")
    eng.register(b"dark", "too_dark")
    return eng


@pytest.fixture
def services(engine: memory.MemoryFaceEngine, clock: Any, memory_services: Callable[..., Services]) -> Services:
    return memory_services(
        engine, clock, DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03)))
    )


@pytest.fixture
def stack(services: Services, make_stack: Callable[[Services], Any]) -> Any:
    built = make_stack(services)
    built.create_site()
    return built


@pytest.fixture
def enrolled(stack: Any) -> dict[str, Any]:
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    response = stack.enroll(invite["token"], [b"a1", b"a2", b"a3"])
    assert response.status == 201, response.body
    return {**invite, **response.json()}


def test_full_flow_grant_deny_replay_erase(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given person A enrolled with a burst of three selfies
    assert enrolled["status"] == "enrolled" and enrolled["n_images"] == 3
    assert len(enrolled["claim_code"]) == 8

    # When A's door frame is verified
    granted = stack.verify(b"a4")

    # Then the door opens with an unlock token the door controller can check offline
    assert granted.status == 200, granted.body
    body = granted.json()
    assert (body["decision"], body["next"]) == ("grant", None)
    assert (last_verify(stack).reason, last_verify(stack).mode) == ("match", "identify")
    door = stack.services.repo.get_door(stack.site_id, stack.door_id)
    key = stack.services.keys.decrypt(door.unlock_key_blob, door_context(stack.door_id))
    claims = read_unlock_token(body["unlock_token"], key, stack.door_id, stack.clock())
    assert claims is not None and claims["sub"] == body["decision_id"] and claims["exp"] - claims["iat"] <= 10
    assert read_unlock_token(body["unlock_token"], key, "door_other", stack.clock()) is None

    # When an impostor's frame is verified, Then it is a normal deny (not an error) without a token
    denied = stack.verify(b"b1")
    assert denied.status == 200 and denied.json()["decision"] == "deny"
    assert denied.json()["next"] == "show_code" and denied.json()["unlock_token"] is None
    assert last_verify(stack).reason == "no_match"
    # And the response is no oracle: no similarity, threshold or reason
    assert set(denied.json()) <= {"decision", "decision_id", "unlock_token", "next", "hint"}

    # When a signed request is replayed with the same nonce, Then the replay is rejected
    path = f"/doors/{stack.door_id}/verify"
    headers = stack.signed_headers(path, b"a4", nonce="replayed-nonce-0001")
    assert stack.api.request("POST", path, body=b"a4", headers=headers).status == 200
    replay = stack.api.request("POST", path, body=b"a4", headers=headers)
    assert replay.status == 401 and replay.error_code == "nonce_reused"

    # When the visitor erases their data, Then a receipt comes back and A is denied afterwards
    erased = stack.api.request("DELETE", f"/register/{enrolled['token']}")
    assert erased.status == 200
    assert set(erased.json()["items"]) >= {"template", "claim_code", "consent"}
    after = stack.verify(b"a4")
    assert (after.json()["decision"], last_verify(stack).reason) == ("deny", "no_candidates")


def test_claim_code_is_one_to_one_and_single_visitor(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given A enrolled and a second visitor invited but not enrolled
    code = enrolled["claim_code"]

    # When A presents A's claim code, Then claim mode grants
    own = stack.verify(b"a4", claim=code).json()
    assert (own["decision"], last_verify(stack).mode) == ("grant", "claim")

    # When B presents A's claim code, Then it is denied as a mismatch
    other = stack.verify(b"b1", claim=code).json()
    assert (other["decision"], other["next"], last_verify(stack).reason) == ("deny", "see_reception", "claim_mismatch")

    # When someone presents a code nobody holds, Then it is unknown (lower-case / dashes are folded)
    unknown = stack.verify(b"a4", claim="ZZZZ-ZZZZ").json()
    assert (unknown["next"], last_verify(stack).reason) == ("see_reception", "claim_unknown")
    folded = stack.verify(b"a4", claim=f"{code[:4].lower()}-{code[4:].lower()}").json()
    assert folded["decision"] == "grant"


def test_status_shows_claim_code_and_states(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given an enrolled visitor, When they reload their page, Then status carries the same claim code
    token = enrolled["token"]
    status = stack.api.request("GET", f"/register/{token}/status").json()
    assert status["status"] == "enrolled" and status["claim_code"] == enrolled["claim_code"]

    # When they erase, Then status says erased and has no claim code
    stack.api.request("DELETE", f"/register/{token}")
    status = stack.api.request("GET", f"/register/{token}/status").json()
    assert status["status"] == "erased" and status["claim_code"] is None


def test_enrollment_requires_consent_and_reports_quality_reasons(stack: Any) -> None:
    # Given an invite without consent
    invite = stack.invite()
    token = invite["token"]

    # When a selfie arrives first, Then it is refused with consent_required
    refused = stack.enroll(token, [b"a1"])
    assert refused.status == 409 and refused.error_code == "consent_required"

    # When consent is given and a group photo or a dark photo is sent, Then 422 says why
    assert stack.consent(token).status == 201
    for image, code in ((b"group", "multiple_faces"), (b"dark", "too_dark"), (b"nothing", "no_face")):
        response = stack.enroll(token, [image])
        assert response.status == 422 and response.error_code == code
        assert set(response.json()) == {"error"}

    # Then each refusal is audited with its reason and no image
    kinds = [(r.kind.value, r.reason) for r in stack.services.audit.records]
    assert ("enroll_refused", "multiple_faces") in kinds
    # And an admin reads them through the API (records without details carry an empty object)
    listed = stack.admin("GET", f"/sites/{stack.site_id}/audit", query="event=enroll_refused")
    assert listed.status == 200, listed.json()
    items = listed.json()["items"]
    assert {item["reason"] for item in items} >= {"multiple_faces", "too_dark", "no_face"}
    assert all(item["details"] == {} for item in items)


def test_consent_requires_current_version_and_explicit_acceptance(stack: Any) -> None:
    token = stack.invite()["token"]
    # When the version is stale, Then 409 consent_version_mismatch
    stale = stack.api.request(
        "POST", f"/register/{token}/consent", json_body={"consent_version": "old", "accepted": True}
    )
    assert stale.status == 409 and stale.error_code == "consent_version_mismatch"
    # When accepted is false, Then the schema refuses it (400 invalid_request)
    version = stack.api.request("GET", f"/register/{token}/notice").json()["consent_version"]
    rejected = stack.api.request(
        "POST", f"/register/{token}/consent", json_body={"consent_version": version, "accepted": False}
    )
    assert rejected.status == 400 and rejected.error_code == "invalid_request"


def test_image_body_limits_and_types(stack: Any) -> None:
    token = stack.invite()["token"]
    stack.consent(token)
    path = f"/register/{token}/selfie"
    # When the content type is not an image, Then 415
    text = stack.api.request("POST", path, body=b"hello", headers={"content-type": "text/plain"})
    assert text.status == 415 and text.error_code == "unsupported_media_type"
    # When the body is over 5 MB, Then 413 before any decoding
    big = stack.api.request("POST", path, body=b"\xff" * (5 * 1024 * 1024 + 1), headers={"content-type": "image/jpeg"})
    assert big.status == 413 and big.error_code == "payload_too_large"
    # When the body is empty, Then 400 empty_image
    empty = stack.api.request("POST", path, body=b"", headers={"content-type": "image/jpeg"})
    assert empty.status == 400 and empty.error_code == "empty_image"
    # When multipart has six parts (selfies are 1-5), Then 400 invalid_parts
    six = stack.enroll(token, [b"a1", b"a2", b"a3", b"a4", b"a5", b"a6"])
    assert six.status == 400 and six.error_code == "invalid_parts"


def test_idempotency_key_returns_first_result(stack: Any) -> None:
    token = stack.invite()["token"]
    stack.consent(token)
    # When the same selfie request is retried with the same Idempotency-Key
    first = stack.enroll(token, [b"a1", b"a2"], idempotency_key="retry-key-0001")
    second = stack.enroll(token, [b"a1", b"a2"], idempotency_key="retry-key-0001")
    # Then the enrollment happened once and both answers agree
    assert first.status == second.status == 201
    assert first.json() == second.json()
    enrolls = [r for r in stack.services.audit.records if r.kind.value == "enroll"]
    assert len(enrolls) == 1
    # When the key is reused with another body, Then 409 idempotency_conflict
    clash = stack.enroll(token, [b"a3"], idempotency_key="retry-key-0001")
    assert clash.status == 409 and clash.error_code == "idempotency_conflict"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda h: h.pop("x-facegate-signature"), "missing_signature"),
        (lambda h: h.update({"x-facegate-nonce": "short"}), "missing_signature"),
        (lambda h: h.update({"x-facegate-key-id": "key_unknown"}), "unknown_key"),
        (lambda h: h.update({"x-facegate-signature": "0" * 64}), "invalid_signature"),
    ],
)
def test_terminal_signature_failures(stack: Any, enrolled: dict[str, Any], mutate: Any, code: str) -> None:
    path = f"/doors/{stack.door_id}/verify"
    headers = stack.signed_headers(path, b"a4")
    mutate(headers)
    response = stack.api.request("POST", path, body=b"a4", headers=headers)
    assert response.status == 401 and response.error_code == code


@pytest.mark.parametrize("skew", [-61, 61])
def test_clock_skew_over_60_seconds_is_rejected(stack: Any, enrolled: dict[str, Any], skew: int) -> None:
    now = int(stack.clock().timestamp())
    response = stack.verify(b"a4", timestamp=now + skew)
    assert response.status == 401 and response.error_code == "clock_skew"


def test_tampered_body_path_and_claim_are_rejected(stack: Any, enrolled: dict[str, Any]) -> None:
    path = f"/doors/{stack.door_id}/verify"
    headers = stack.signed_headers(path, b"a4")
    # body swapped after signing
    assert stack.api.request("POST", path, body=b"b1", headers=headers).error_code == "invalid_signature"
    # claim header added after signing
    headers = stack.signed_headers(path, b"a4")
    headers["x-facegate-claim"] = enrolled["claim_code"]
    assert stack.api.request("POST", path, body=b"a4", headers=headers).error_code == "invalid_signature"


def test_revoked_terminal_is_rejected_on_the_next_request(stack: Any, enrolled: dict[str, Any]) -> None:
    assert stack.verify(b"a4").status == 200
    revoked = stack.admin("DELETE", f"/terminals/{stack.terminal['terminal_id']}")
    assert revoked.status == 200
    response = stack.verify(b"a4")
    assert response.status == 401 and response.error_code == "key_revoked"


def test_door_not_bound_to_terminal_is_forbidden(stack: Any, enrolled: dict[str, Any]) -> None:
    other = stack.admin("POST", f"/sites/{stack.site_id}/doors", {"name": "Back door"}).json()["door_id"]
    response = stack.verify(b"a4", door_id=other)
    assert response.status == 403 and response.error_code == "door_not_allowed"


def test_repeated_denies_start_a_cooldown(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given 5 impostor attempts within a minute
    for _ in range(5):
        assert stack.verify(b"b1").json()["decision"] == "deny"
    # When the next face comes alone, Then the terminal is cooling down: face-only matching is suspended and
    # the person is asked for their code (issue 15 item 10: a deny, not a 429)
    suspended = stack.verify(b"a4")
    assert suspended.status == 200 and (suspended.json()["decision"], suspended.json()["next"]) == ("deny", "show_code")
    # When 31 seconds pass, Then the genuine visitor gets in again
    stack.clock.advance(31)
    assert stack.verify(b"a4").json()["decision"] == "grant"


def test_expired_invite_never_matches_even_before_ttl(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given the invite window ends (the template item still exists)
    stack.clock.advance(4 * 3600 + 1)
    assert stack.services.repo.templates
    # When A comes to the door, Then nobody is a candidate
    response = stack.verify(b"a4").json()
    assert (response["decision"], last_verify(stack).reason) == ("deny", "no_candidates")
    # And the visitor's status says expired
    status = stack.api.request("GET", f"/register/{enrolled['token']}/status").json()
    assert status["status"] == "expired"


def test_invite_for_other_door_does_not_match(stack: Any) -> None:
    # Given a second door and an invite for it only
    door2 = stack.admin("POST", f"/sites/{stack.site_id}/doors", {"name": "Lab"}).json()["door_id"]
    invite = stack.invite(door_ids=[door2])
    stack.consent(invite["token"])
    assert stack.enroll(invite["token"], [b"a1"]).status == 201
    # When A verifies at the first door, Then A is not a candidate there
    assert stack.verify(b"a4").json()["decision"] == "deny" and last_verify(stack).reason == "no_candidates"


def test_admin_erases_invite_and_token_stops_working(stack: Any, enrolled: dict[str, Any]) -> None:
    erased = stack.admin("DELETE", f"/invites/{enrolled['invite_id']}")
    assert erased.status == 200 and "template" in erased.json()["items"]
    gone = stack.api.request("GET", f"/register/{enrolled['token']}/status")
    assert gone.status == 410 and gone.error_code == "invite_revoked"
    assert stack.verify(b"a4").json()["decision"] == "deny" and last_verify(stack).reason == "no_candidates"


def test_hosts_roles_and_site_scoping(stack: Any) -> None:
    now = stack.clock()
    body = {
        "door_ids": [stack.door_id],
        "valid_from": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # A host of this site may invite
    ok = stack.host([stack.site_id], "POST", f"/sites/{stack.site_id}/invites", body)
    assert ok.status == 201, ok.body
    # A host of another site may not
    other = stack.host(["site_other"], "POST", f"/sites/{stack.site_id}/invites", body)
    assert other.status == 403 and other.error_code == "site_not_allowed"
    # A host may not call admin-only routes
    admin_only = stack.host([stack.site_id], "POST", "/sites", {"name": "x", "timezone": "UTC"})
    assert admin_only.status == 403 and admin_only.error_code == "forbidden"
    # No claims at all (authorizer bypassed) is 401
    anonymous = stack.api.request("POST", "/sites", json_body={"name": "x", "timezone": "UTC"})
    assert anonymous.status == 401 and anonymous.error_code == "unauthorized"


def test_invalid_tokens_are_throttled_per_source(stack: Any) -> None:
    for _ in range(20):
        response = stack.api.request("GET", "/register/" + "x" * 43 + "/status", source_ip="10.0.0.9")
        assert response.status in (401, 429)
    limited = stack.api.request("GET", "/register/" + "y" * 43 + "/status", source_ip="10.0.0.9")
    assert limited.status == 429 and limited.error_code == "rate_limited" and "retry-after" in limited.headers
    # another source is not affected
    other = stack.api.request("GET", "/register/" + "y" * 43 + "/status", source_ip="10.0.0.10")
    assert other.status == 401 and other.error_code == "invalid_token"


def test_schema_errors_are_400_with_stable_code(stack: Any) -> None:
    for body in ({"name": ""}, {"name": "x", "timezone": "UTC", "extra": 1}, {"timezone": "UTC"}):
        response = stack.admin("POST", "/sites", body)
        assert response.status == 400 and response.error_code == "invalid_request", body
    bad_zone = stack.admin("POST", "/sites", {"name": "x", "timezone": "Mars/Olympus"})
    assert bad_zone.status == 400
    malformed = stack.api.request(
        "POST",
        "/sites",
        body=b"{not json",
        headers={"content-type": "application/json"},
        claims={"sub": "a", "cognito:groups": "[admins]"},
    )
    assert malformed.status == 400 and malformed.error_code == "invalid_request"
    unknown = stack.api.request("GET", "/nowhere")
    assert unknown.status == 404 and unknown.error_code == "not_found"


def test_audit_is_paginated_and_imageless(stack: Any, enrolled: dict[str, Any]) -> None:
    for _ in range(3):
        stack.verify(b"a4")
    first = stack.admin("GET", f"/sites/{stack.site_id}/audit", query="limit=2")
    assert first.status == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_token"]
    rest = stack.admin("GET", f"/sites/{stack.site_id}/audit", query=f"limit=100&next_token={page['next_token']}")
    verifies = [i for i in page["items"] + rest.json()["items"] if i["event"] == "verify"]
    assert len(verifies) == 3
    assert all(v["model_id"] and v["threshold"] and v["latency_ms"] is not None for v in verifies)
    text = first.body.decode() + rest.body.decode()
    assert enrolled["token"] not in text and enrolled["claim_code"] not in text
    assert not any(key in item for item in page["items"] for key in ("image", "template", "vector", "token"))


def test_unlock_key_is_returned_once(stack: Any) -> None:
    door = stack.admin("POST", f"/sites/{stack.site_id}/doors", {"name": "Side"}).json()
    assert len(decode_key(door["unlock_key"])) == 32


def test_template_of_another_model_requires_reenrollment(stack: Any, engine: memory.MemoryFaceEngine) -> None:
    # Given a visitor enrolled while the doors used an older model (same faces, another model id)
    old = memory.MemoryFaceEngine(model_id="old-model-0")
    for image, face in engine._faces.items():
        old.register(image, face)
    stack.services.engine = lambda: old
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    enrolled = stack.enroll(invite["token"], [b"a1", b"a2", b"a3"]).json()
    stack.services.engine = lambda: engine

    # When the visitor comes to the door by face alone, Then the stale template is never compared
    face_only = stack.verify(b"a4").json()
    assert (face_only["decision"], face_only["next"]) == ("deny", "show_code")
    assert last_verify(stack).reason == "no_candidates"

    # When they show their claim code, Then the door denies with reenroll_required (audited), see reception
    claimed = stack.verify(b"a4", claim=enrolled["claim_code"]).json()
    assert (claimed["decision"], claimed["next"]) == ("deny", "see_reception")
    assert last_verify(stack).reason == "reenroll_required" and last_verify(stack).similarity is None
    assert last_verify(stack).visitor_id == invite["invite_id"]

    # And their status asks for new selfies; after enrolling again the door grants
    status = stack.api.request("GET", f"/register/{invite['token']}/status").json()
    assert status["status"] == "reenroll_required" and status.get("claim_code") is None
    assert stack.enroll(invite["token"], [b"a1", b"a2", b"a3"]).status == 201
    assert stack.api.request("GET", f"/register/{invite['token']}/status").json()["status"] == "enrolled"
    assert stack.verify(b"a4").json()["decision"] == "grant"


def test_site_security_level_create_and_patch(stack: Any) -> None:
    # Given a site created without a level, Then it is standard and the response shows the level's table
    created = stack.admin("POST", "/sites", {"name": "Annex", "timezone": "Asia/Seoul"})
    assert created.status == 201
    site = created.json()
    assert site["security_level"] == "standard" and "match_threshold" not in site
    assert site["policy"]["targets"] == {"face_only_stranger_rate": 0.001, "claim_stranger_rate": 0.01}
    standard_claim = site["policy"]["claim"][0]["threshold"]

    # When an admin raises it to high, Then the thresholds rise and the change is audited
    patched = stack.admin("PATCH", f"/sites/{site['site_id']}", {"security_level": "high"})
    assert patched.status == 200, patched.body
    assert patched.json()["security_level"] == "high" and patched.json()["name"] == "Annex"
    assert patched.json()["policy"]["claim"][0]["threshold"] > standard_claim
    assert any(r.kind.value == "site_updated" for r in stack.services.audit.records)

    # And a host cannot change it, a raw threshold is refused and an unknown site is 404
    host = stack.host([site["site_id"]], "PATCH", f"/sites/{site['site_id']}", {"security_level": "standard"})
    assert host.status == 403
    raw = stack.admin("POST", "/sites", {"name": "X", "timezone": "Asia/Seoul", "match_threshold": 0.5})
    assert raw.status == 400
    assert stack.admin("PATCH", "/sites/site_nope", {"name": "Y"}).status == 404


def test_face_only_is_off_where_no_threshold_meets_the_target(stack: Any, enrolled: dict[str, Any]) -> None:
    # Given a policy whose scores are so spread that even one candidate cannot be held to 1 in 1,000
    stack.services.policy = DoorPolicy(Calibration.normal("memory", impostor=(0.3, 0.2), genuine=(0.9, 0.05)))
    # When A comes by face alone, Then the door asks for the code (claim_required, not counted as an attack)
    face_only = stack.verify(b"a4").json()
    assert (face_only["decision"], face_only["next"]) == ("deny", "show_code")
    assert last_verify(stack).reason == "claim_required"
    # And with the code from their phone A is granted in one step
    assert stack.verify(b"a4", claim=enrolled["claim_code"]).json()["decision"] == "grant"

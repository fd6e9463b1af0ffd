"""The whole backend with the real ONNX face engine and real LFW dev photos, against moto and
DynamoDB Local: invite → consent → selfie burst → door grant → impostor deny → replay refused →
erase → the same person denied.

Person A is Emma_Watson: her LFW dev photos 1, 3 and 5 pass every enrollment gate and are one
person by the engine's consistency check, and the fused template scores her photos 2 and 4 high
(0.984 and 0.987 with the dlib int8 model). The door policy decides with the shipped calibration:
face alone at a door with one candidate where the policy allows it for this model (else
``claim_required``), and the claim code 1:1. Person B, the impostor, is Winona_Ryder_0006.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from facegate.domain.models import SecurityLevel
from facegate.security.tokens import read_unlock_token
from facegate.usecases.keys import door_context

PERSON_A = "Emma_Watson"
A_SELFIES = (1, 3, 5)
A_DOOR_FRAMES = (2, 4)
IMPOSTOR = ("Winona_Ryder", 6)


@pytest.fixture
def photo(lfw_dev_dir: Path) -> Callable[[str, int], bytes]:
    def read(person: str, number: int) -> bytes:
        return (lfw_dev_dir / person / f"{person}_{number:04d}.jpg").read_bytes()

    return read


@pytest.fixture
def stack(real_stack: Any) -> Any:
    """The API in-process over the backend's tables, with the real engine and the shipped door policy."""
    return real_stack


def verify_record(stack: Any, response: Any) -> Any:
    """The audit record of one verify answer, found by its decision id (the precise reason, similarity and
    threshold live only there; several records may share a second, so order alone is not enough)."""
    decision_id = response.json()["decision_id"]
    if hasattr(stack.services.audit, "records"):
        return next(r for r in stack.services.audit.records if r.event_id == decision_id)
    window = f"from={(stack.clock() - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    items = stack.admin("GET", f"/sites/{stack.site_id}/audit", query=f"{window}&limit=500").json()["items"]
    return SimpleNamespace(**next(i for i in items if i["event_id"] == decision_id))


def unlock_claims(stack: Any, token: str) -> dict[str, Any] | None:
    door = stack.services.repo.get_door(stack.site_id, stack.door_id)
    key = stack.services.keys.decrypt(door.unlock_key_blob, door_context(stack.door_id))
    claims: dict[str, Any] | None = read_unlock_token(token, key, stack.door_id, stack.clock())
    return claims


@pytest.mark.parametrize(
    "backend", ["moto", pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)], indirect=True
)
def test_full_flow_with_real_faces(stack: Any, photo: Callable[[str, int], bytes]) -> None:
    engine = stack.services.engine()
    policy = stack.services.door_policy()
    assert policy.model_id == engine.model_id, "stale calibration: run scripts/calibrate.py"
    face_only = policy.face_only(SecurityLevel.STANDARD, 1, 3, 1).threshold
    claim = policy.claim(SecurityLevel.STANDARD, 3, 1).threshold

    # Given a visitor invited to the site's door who accepted the notice
    invite = stack.invite()
    token = invite["token"]
    consent = stack.consent(token)
    assert consent.status == 201, consent.body

    # When A sends a burst of three selfies
    enrolled = stack.enroll(token, [photo(PERSON_A, n) for n in A_SELFIES])

    # Then A is enrolled from three good photos and gets a claim code
    assert enrolled.status == 201, enrolled.body
    body = enrolled.json()
    assert (body["status"], body["n_images"]) == ("enrolled", 3)
    assert len(body["quality"]) == 3 and all(q["ok"] for q in body["quality"])
    claim_code = body["claim_code"]
    assert len(claim_code) == 8
    status = stack.api.request("GET", f"/register/{token}/status").json()
    assert (status["status"], status["claim_code"]) == ("enrolled", claim_code)

    # When another photo of A is shown at the door (no claim code: closed-set 1:N, N = 1)
    granted = stack.verify(photo(PERSON_A, A_DOOR_FRAMES[0]))

    # Then the door policy decides with its face-only threshold for N = 1, K = 3, F = 1: a grant with a valid
    # unlock token where face-only entry is on for this model, else a deny that asks for the claim code
    assert granted.status == 200, granted.body
    decision = granted.json()
    record = verify_record(stack, granted)
    if face_only is None:
        assert (decision["decision"], decision["next"], record.reason) == ("deny", "show_code", "claim_required")
    else:
        assert (decision["decision"], record.reason, record.mode) == ("grant", "match", "identify")
        assert record.threshold == pytest.approx(face_only, abs=1e-4) and record.similarity >= face_only
        claims = unlock_claims(stack, decision["unlock_token"])
        assert claims is not None and claims["sub"] == decision["decision_id"]
    # And the response is no oracle
    assert set(decision) <= {"decision", "decision_id", "unlock_token", "next", "hint"}

    # When another photo of A is shown with A's claim code (1:1)
    claimed = stack.verify(photo(PERSON_A, A_DOOR_FRAMES[1]), claim=claim_code)

    # Then the door opens in claim mode at the policy's claim threshold
    assert claimed.status == 200, claimed.body
    assert claimed.json()["decision"] == "grant" and claimed.json()["next"] is None
    assert verify_record(stack, claimed).mode == "claim"
    assert verify_record(stack, claimed).threshold == pytest.approx(claim, abs=1e-4)

    # When an impostor is shown, with and without A's claim code
    impostor = photo(*IMPOSTOR)
    denied = stack.verify(impostor)
    denied_no_code = verify_record(stack, denied)
    denied_claim = stack.verify(impostor, claim=claim_code)

    # Then both are normal denials without an unlock token; with A's code: see reception
    assert denied.status == 200, denied.body
    assert (denied.json()["decision"], denied.json()["next"]) == ("deny", "show_code")
    assert denied_no_code.reason in {"no_match", "claim_required"} and denied.json().get("unlock_token") is None
    assert denied_claim.status == 200, denied_claim.body
    assert (denied_claim.json()["decision"], denied_claim.json()["next"]) == ("deny", "see_reception")
    assert (
        verify_record(stack, denied_claim).reason == "claim_mismatch"
        and denied_claim.json().get("unlock_token") is None
    )

    # When a signed request of A with the claim code is sent, then replayed byte for byte
    path = f"/doors/{stack.door_id}/verify"
    frame = photo(PERSON_A, A_DOOR_FRAMES[1])
    headers = stack.signed_headers(path, frame, claim=claim_code, nonce="replayed-nonce-000001")
    first = stack.api.request("POST", path, body=frame, headers=headers)
    stack.clock.advance(5)
    replay = stack.api.request("POST", path, body=frame, headers=headers)

    # Then the first is granted and the replay is refused before any face is looked at
    assert first.status == 200 and first.json()["decision"] == "grant", first.body
    assert replay.status == 401 and replay.error_code == "nonce_reused", replay.body

    # When A erases their data
    erased = stack.api.request("DELETE", f"/register/{token}")

    # Then a receipt lists the template, the claim code and the consent
    assert erased.status == 200, erased.body
    assert {"template", "claim_code", "consent"} <= set(erased.json()["items"])
    assert erased.json()["erased_at"]

    # When A comes back to the door, by face and with the old claim code
    after = stack.verify(photo(PERSON_A, A_DOOR_FRAMES[0]))
    after_claim = stack.verify(photo(PERSON_A, A_DOOR_FRAMES[0]), claim=claim_code)

    # Then A is denied both ways: no template is left to match
    assert after.status == 200 and after.json()["decision"] == "deny", after.body
    assert after.json().get("unlock_token") is None
    assert after_claim.status == 200 and after_claim.json()["decision"] == "deny", after_claim.body
    assert after_claim.json()["next"] == "see_reception"

    # And the audit trail holds every decision with the engine's model id, never an image or template
    window = f"from={(stack.clock() - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    audit = stack.admin("GET", f"/sites/{stack.site_id}/audit", query=f"{window}&limit=100")
    assert audit.status == 200, audit.body
    verifies = [item for item in audit.json()["items"] if item["event"] == "verify"]
    first_face = ("grant", "match", "identify") if face_only is not None else ("deny", "claim_required", "identify")
    assert sorted((item["decision"], item["reason"], item["mode"]) for item in verifies) == sorted(
        [
            first_face,
            ("grant", "match", "claim"),
            ("deny", denied_no_code.reason, "identify"),
            ("deny", "claim_mismatch", "claim"),
            ("grant", "match", "claim"),
            ("deny", "no_candidates", "identify"),
            ("deny", "claim_unknown", "claim"),
        ]
    )
    assert all(item["details"]["level"] == "standard" for item in verifies)
    assert all(item["model_id"] == engine.model_id for item in verifies)
    assert {"enroll", "erase"} <= {item["event"] for item in audit.json()["items"]}
    assert b"vector" not in audit.body and b"template_blob" not in audit.body

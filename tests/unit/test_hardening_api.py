"""Issue 12 (hardening, round two): each test is named after the attack it replays, in-process over in-memory
adapters and an in-memory face engine. Each failed on the main branch before the fix."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from facegate.adapters import memory
from facegate.api import body as body_module
from facegate.api import schemas
from facegate.domain.models import AuditKind
from facegate.errors import InvalidRequest
from facegate.usecases.context import Services
from helpers import FakeClock, multipart

Stack = Any
"""tests/conftest.py's ``Stack`` (the whole API in-process); fixtures only, no import of conftest."""

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-ish bytes of a face"
PNG = b"\x89PNG\r\n\x1a\n" + b"png-ish bytes of a face"


@pytest.fixture
def engine() -> memory.MemoryFaceEngine:
    eng = memory.MemoryFaceEngine()
    vector = [1.0] + [0.0] * 127
    for image in (JPEG, PNG):
        eng.register(image, vector)
    return eng


@pytest.fixture
def services(engine: memory.MemoryFaceEngine, clock: FakeClock, memory_services: Callable[..., Services]) -> Services:
    return memory_services(engine, clock)


@pytest.fixture
def stack(services: Services, make_stack: Callable[[Services], Stack]) -> Stack:
    built = make_stack(services)
    built.create_site()
    return built


def _audit(services: Services, kind: AuditKind) -> list[Any]:
    assert isinstance(services.audit, memory.MemoryAuditLog)
    return [record for record in services.audit.records if record.kind is kind]


def _hostile_multipart(parts: int) -> tuple[bytes, str]:
    chunk = b'--b\r\nContent-Disposition: form-data; name="image"\r\n\r\n\r\n'
    return chunk * parts + b"--b--\r\n", "multipart/form-data; boundary=b"


class CountingBytes(bytes):
    """bytes that count how often they are searched (the multipart split must stop early)."""

    finds = 0

    def find(self, *args: Any) -> int:  # type: ignore[override]
        CountingBytes.finds += 1
        return super().find(*args)


# ----------------------------------------------------------------------- item 1: CPU exhaustion, no credentials


def test_87500_empty_parts_to_a_random_token_are_refused_before_the_body_is_read(stack: Stack) -> None:
    # Given a 4.8 MB multipart body of 87,500 empty parts and a random invite token
    body, content_type = _hostile_multipart(87_500)
    token = secrets.token_urlsafe(32)
    # When it is posted to the selfie route
    response = stack.api.request(
        "POST", f"/register/{token}/selfie", body=body, headers={"content-type": content_type}, source_ip="192.0.2.9"
    )
    # Then the token is refused (401 invalid_token), not the body: nothing was parsed
    assert response.status == 401 and response.error_code == "invalid_token"
    # And the request counted towards the bad-token limit of its address
    assert stack.services.ephemeral.hit("badtoken#192.0.2.9", 60, stack.clock()) == 2


def test_87500_empty_parts_with_a_valid_token_stop_at_the_part_limit(stack: Stack) -> None:
    # Given a visitor with a valid link and consent, and the same hostile body
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    body, content_type = _hostile_multipart(87_500)
    # When it is posted
    response = stack.api.request(
        "POST", f"/register/{invite['token']}/selfie", body=body, headers={"content-type": content_type}
    )
    # Then it is refused with invalid_parts
    assert response.status == 400 and response.error_code == "invalid_parts"


def test_multipart_split_scans_only_until_the_part_cap() -> None:
    # Given the hostile body of 87,500 parts, as bytes that count searches
    body, content_type = _hostile_multipart(87_500)
    counted = CountingBytes(body)
    CountingBytes.finds = 0
    # When it is split for at most 3 parts
    with pytest.raises(InvalidRequest) as refused:
        body_module.image_parts(content_type, counted, "image")
    # Then it is refused after a handful of boundary searches, not 87,500
    assert refused.value.code == "invalid_parts"
    assert CountingBytes.finds <= 3 + 2


# ----------------------------------------------------------------------- item 2: 500s from client input


JSON_ROUTES = [
    ("POST", "/sites"),
    ("POST", "/sites/{site}/doors"),
    ("POST", "/sites/{site}/terminals"),
    ("POST", "/sites/{site}/invites"),
]


def _json_call(stack: Stack, method: str, path: str, raw: bytes, content_type: str = "application/json") -> Any:
    return stack.api.request(
        method,
        path.format(site=stack.site_id),
        body=raw,
        headers={"content-type": content_type},
        claims={"sub": "admin-1", "cognito:groups": "[admins]"},
    )


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_json_nested_100000_deep_is_a_400_not_a_recursion_error(stack: Stack, method: str, path: str) -> None:
    # Given a JSON body nested 100,000 deep (under the size limit when compact: refused for depth or size)
    for raw in (b"[" * 100_000 + b"]" * 100_000, b"[" * 5000 + b"]" * 5000):
        # When it is posted
        response = _json_call(stack, method, path, raw)
        # Then it is a 4xx with a stable code, never a 500
        assert (response.status, response.error_code) in {(400, "json_too_deep"), (413, "payload_too_large")}


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_integer_of_5000_digits_is_a_400_not_a_500(stack: Stack, method: str, path: str) -> None:
    # Given a JSON body holding an integer of 5,000 digits
    raw = b'{"name": "x", "n": ' + b"7" * 5000 + b"}"
    # When it is posted / Then it is 400 number_too_long
    response = _json_call(stack, method, path, raw)
    assert (response.status, response.error_code) == (400, "number_too_long")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_unsupported_content_type_on_a_json_route_is_415(
    stack: Stack, method: str, path: str, content_type: str
) -> None:
    # Given a JSON route and another declared content type / When posted / Then 415 unsupported_media_type
    response = _json_call(stack, method, path, b'{"name": "x"}', content_type)
    assert (response.status, response.error_code) == (415, "unsupported_media_type")


def test_consent_route_checks_the_token_before_parsing_the_body(stack: Stack) -> None:
    # Given a random token and bodies that used to crash the parser
    token = secrets.token_urlsafe(32)
    for raw, content_type in (
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"accepted": ' + b"1" * 5000 + b"}", "application/json"),
        (b"<consent/>", "application/xml"),
    ):
        # When posted to the consent route
        response = stack.api.request(
            "POST", f"/register/{token}/consent", body=raw, headers={"content-type": content_type}
        )
        # Then the answer is about the token: no valid token, no parsing
        assert (response.status, response.error_code) == (401, "invalid_token")


# ----------------------------------------------------------------------- item 3: invite windows


def _invite_body(stack: Stack, start: str, end: str) -> dict[str, Any]:
    return {"door_ids": [stack.door_id], "valid_from": start, "valid_until": end}


def test_invite_starting_in_2036_is_refused(stack: Stack) -> None:
    # Given an invite whose window opens in 2036 / When created / Then 400 invalid_window
    response = stack.admin(
        "POST", f"/sites/{stack.site_id}/invites", _invite_body(stack, "2036-01-01T09:00:00Z", "2036-01-02T09:00:00Z")
    )
    assert (response.status, response.error_code) == (400, "invalid_window")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T00:00:00-05:00", "9999-12-31T23:59:59-12:00"),
        ("now", "9999-12-31T23:59:59Z"),
    ],
)
def test_invite_window_ending_9999_12_31_is_a_400_not_an_overflow(stack: Stack, start: str, end: str) -> None:
    # Given a window ending at the end of year 9999
    now = stack.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = _invite_body(stack, now if start == "now" else start, end)
    # When created / Then it is refused with a stable code, never a 500
    response = stack.admin("POST", f"/sites/{stack.site_id}/invites", body)
    assert (response.status, response.error_code) == (400, "invalid_window")


def test_invite_may_start_up_to_90_days_ahead(stack: Stack) -> None:
    # Given a window opening in 89 days / When created / Then it is accepted
    start = stack.clock() + timedelta(days=89)
    body = _invite_body(
        stack, start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert stack.admin("POST", f"/sites/{stack.site_id}/invites", body).status == 201


def test_enrolling_weeks_before_the_visit_is_refused_until_7_days_before(stack: Stack, clock: FakeClock) -> None:
    # Given an invite whose window opens in 30 days
    invite = stack.invite(hours=30 * 24 + 2, start_offset=30 * 24 * 3600)
    token = invite["token"]
    # When the visitor consents and uploads now
    early_consent = stack.consent(token)
    # Then both are refused: a template must not wait weeks for its visit
    assert (early_consent.status, early_consent.error_code) == (409, "enrollment_not_open")
    early_selfie = stack.enroll(token, [JPEG])
    assert (early_selfie.status, early_selfie.error_code) == (409, "enrollment_not_open")
    # When it is 7 days before the window opens, Then consent and enrollment work
    clock.advance(23 * 24 * 3600)
    assert stack.consent(token).status == 201
    assert stack.enroll(token, [JPEG]).status == 201


# ----------------------------------------------------------------------- item 4: shared address lock-out


def test_20_bad_guesses_from_a_shared_address_do_not_lock_out_visitors_with_valid_links(stack: Stack) -> None:
    # Given guest Wi-Fi behind one address, from which someone made 20 bad guesses within a minute
    shared = "203.0.113.7"
    invite = stack.invite()
    for _ in range(20):
        guess = stack.api.request("GET", f"/register/{secrets.token_urlsafe(32)}/status", source_ip=shared)
        assert guess.status == 401
    # When the guesser tries once more, Then that guess is throttled
    throttled = stack.api.request("GET", f"/register/{secrets.token_urlsafe(32)}/status", source_ip=shared)
    assert (throttled.status, throttled.error_code) == (429, "rate_limited")
    # And when a visitor behind the same address opens their valid link, they are served
    notice = stack.api.request("GET", f"/register/{invite['token']}/notice", source_ip=shared)
    assert notice.status == 200
    consent = stack.api.request(
        "POST",
        f"/register/{invite['token']}/consent",
        json_body={"consent_version": notice.json()["consent_version"], "accepted": True},
        source_ip=shared,
    )
    assert consent.status == 201


def test_bad_guesses_from_one_ipv6_64_are_counted_together(stack: Stack) -> None:
    # Given 20 bad guesses, each from a different address of one IPv6 /64
    for i in range(20):
        stack.api.request("GET", f"/register/{secrets.token_urlsafe(32)}/status", source_ip=f"2001:db8:1:2::{i + 1:x}")
    # When another address of that /64 guesses, Then it is throttled
    response = stack.api.request("GET", f"/register/{secrets.token_urlsafe(32)}/status", source_ip="2001:db8:1:2::ff")
    assert response.status == 429


# ----------------------------------------------------------------------- item 5: attack signals leave a trace


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Structured log lines of refusals, as the Logger would serialise them (message and extra keys)."""
    from facegate.api import errors as api_errors

    lines: list[str] = []

    def warning(message: str, extra: dict[str, Any] | None = None, **_: Any) -> None:
        lines.append(json.dumps({"message": message, **(extra or {})}))

    monkeypatch.setattr(api_errors.logger, "warning", warning)
    return lines


def test_forged_door_requests_with_a_known_key_are_audited_logged_and_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str], log_lines: list[str]
) -> None:
    # Given a terminal whose key id is known to an attacker who lacks its secret
    path = f"/doors/{stack.door_id}/verify"
    headers = stack.signed_headers(path, JPEG)
    headers["x-facegate-signature"] = "0" * 64
    # When the attacker posts a forged request
    response = stack.api.request("POST", path, body=JPEG, headers=headers)
    # Then it is 401 invalid_signature, and audited on the terminal's site as a refusal
    assert (response.status, response.error_code) == (401, "invalid_signature")
    refused = _audit(stack.services, AuditKind.REFUSED)
    assert [(r.reason, r.terminal_id, r.door_id, r.details["authenticated"]) for r in refused] == [
        ("invalid_signature", stack.terminal["terminal_id"], stack.door_id, "no")
    ]
    # And a structured log line and a metric name the code, never the signature or secret
    metrics = capsys.readouterr().out
    assert [json.loads(line)["refusal_code"] for line in log_lines] == ["invalid_signature"]
    assert '"Refused"' in metrics and '"code":"invalid_signature"' in metrics.replace(" ", "")
    for text in (metrics, *log_lines):
        assert stack.terminal["secret"] not in text and headers["x-facegate-nonce"] not in text
        assert headers["x-facegate-signature"] not in text


def test_terminal_asking_for_another_door_is_audited(stack: Stack, services: Services) -> None:
    # Given a second door the terminal is not bound to
    door = stack.admin("POST", f"/sites/{stack.site_id}/doors", {"name": "Back door"}).json()["door_id"]
    path = f"/doors/{door}/verify"
    # When the terminal asks to open it
    response = stack.api.request("POST", path, body=JPEG, headers=stack.signed_headers(path, JPEG))
    # Then 403 door_not_allowed, audited as an authenticated refusal at that door
    assert (response.status, response.error_code) == (403, "door_not_allowed")
    refused = _audit(services, AuditKind.REFUSED)
    assert [(r.reason, r.door_id, r.details["authenticated"]) for r in refused] == [("door_not_allowed", door, "yes")]


def test_cooling_down_terminal_is_audited(stack: Stack, services: Services) -> None:
    # Given a terminal in a cool-down (after repeated denials)
    now = services.clock()
    services.ephemeral.block(f"cooldown#{stack.terminal['terminal_id']}", now + timedelta(seconds=30))
    # When a face comes alone
    response = stack.verify(JPEG)
    # Then it is asked for the code (face-only matching suspended; issue 15 item 10: no 429), and the audit
    # keeps the precise reason of the deny
    assert response.status == 200 and response.json()["next"] == "show_code"
    verified = _audit(services, AuditKind.VERIFY)
    assert [(r.decision, r.reason, r.similarity) for r in verified] == [("deny", "face_only_suspended", None)]


def test_a_flood_of_forged_requests_cannot_flood_the_audit_table(stack: Stack, services: Services) -> None:
    # Given 50 forged requests with a known key id within one minute
    path = f"/doors/{stack.door_id}/verify"
    for _ in range(50):
        headers = stack.signed_headers(path, JPEG)
        headers["x-facegate-signature"] = "1" * 64
        assert stack.api.request("POST", path, body=JPEG, headers=headers).status == 401
    # Then at most the per-minute cap of them is audited (the rest are logged and counted)
    assert len(_audit(services, AuditKind.REFUSED)) == services.settings.refusal_audits_per_minute


def test_invalid_invite_tokens_are_logged_and_counted_without_the_token(
    stack: Stack, capsys: pytest.CaptureFixture[str], log_lines: list[str]
) -> None:
    # Given a guessed invite token / When it is used
    token = secrets.token_urlsafe(32)
    assert stack.api.request("GET", f"/register/{token}/status").status == 401
    # Then a log line and a metric name invalid_token, and the token appears nowhere
    metrics = capsys.readouterr().out
    assert [json.loads(line)["refusal_code"] for line in log_lines] == ["invalid_token"]
    assert '"code":"invalid_token"' in metrics.replace(" ", "")
    assert all(token not in text for text in (metrics, *log_lines))


# ----------------------------------------------------------------------- item 6: lax types


def test_consent_with_accepted_1_is_not_consent(stack: Stack) -> None:
    # Given a visitor's link
    invite = stack.invite()
    notice = stack.api.request("GET", f"/register/{invite['token']}/notice").json()
    for accepted in (1, "true", "1"):
        # When consent is posted with a truthy non-boolean / Then it is refused, and no consent is recorded
        response = stack.api.request(
            "POST",
            f"/register/{invite['token']}/consent",
            json_body={"consent_version": notice["consent_version"], "accepted": accepted},
        )
        assert (response.status, response.error_code) == (400, "invalid_request"), accepted
    assert stack.api.request("GET", f"/register/{invite['token']}/status").json()["status"] == "invited"


@pytest.mark.parametrize("moment", [1_900_000_000, "1900000000", 1.9e9, "2030-01-01", "2030-01-01T09:00:00"])
def test_unix_integers_and_offsetless_times_are_not_invite_times(stack: Stack, moment: Any) -> None:
    # Given an invite whose valid_from is not an RFC 3339 string with an offset / When created / Then 400
    end = (stack.clock() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"door_ids": [stack.door_id], "valid_from": moment, "valid_until": end}
    response = stack.admin("POST", f"/sites/{stack.site_id}/invites", body)
    assert (response.status, response.error_code) == (400, "invalid_request")


@pytest.mark.parametrize("query", ["from=1700000000", "to=1900000000", "from=2026-01-01", "to=2026-01-01T09:00:00"])
def test_unix_integers_and_offsetless_times_are_not_audit_query_times(stack: Stack, query: str) -> None:
    # Given the audit query / When a time is a Unix number or has no offset / Then 400, not a guess
    response = stack.admin("GET", f"/sites/{stack.site_id}/audit", query=query)
    assert (response.status, response.error_code) == (400, "invalid_request")
    assert stack.admin("GET", f"/sites/{stack.site_id}/audit", query="from=2026-01-01T00:00:00Z").status == 200


def test_strings_are_not_numbers_and_every_request_model_is_strict() -> None:
    # Given every request model of the API
    models = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, schemas.Strict)]
    assert models
    for model in models:
        # Then it validates in pydantic strict mode and forbids unknown fields
        assert model.model_config.get("strict") is True, model
        assert model.model_config.get("extra") == "forbid", model
        for name, info in model.model_fields.items():
            # And every number is bounded below and above
            annotation = str(info.annotation)
            if "int" in annotation or "float" in annotation:
                bounds = {type(m).__name__ for m in info.metadata}
                assert bounds & {"Gt", "Ge"} and bounds & {"Lt", "Le"}, (model, name)
    # And "0.1" is not a number, 1 is not true
    with pytest.raises(ValueError):
        schemas.ConsentIn.model_validate({"consent_version": "v1", "accepted": 1})


# ----------------------------------------------------------------------- item 8: one answer for other sites


def test_host_probing_another_sites_invite_gets_the_unknown_invite_answer(stack: Stack) -> None:
    # Given an invite of site A and a host of another site B
    invite = stack.invite()
    other = stack.admin("POST", "/sites", {"name": "Other", "timezone": "Asia/Seoul"}).json()["site_id"]
    # When the host of B erases A's invite, and an invite id that does not exist
    foreign = stack.host([other], "DELETE", f"/invites/{invite['invite_id']}")
    unknown = stack.host([other], "DELETE", "/invites/inv_doesnotexist")
    # Then both answers are the same 404
    assert (
        (foreign.status, foreign.json())
        == (unknown.status, unknown.json())
        == (
            404,
            {"error": {"code": "not_found", "message": "invite not found"}},
        )
    )
    # And A's invite still works
    assert stack.api.request("GET", f"/register/{invite['token']}/status").status == 200


# ----------------------------------------------------------------------- issue 13 (b): one content-type rule


def test_jpeg_sent_as_png_is_415_on_both_image_routes(stack: Stack) -> None:
    # Given a visitor who consented, and a terminal
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    # When a JPEG is sent as image/png to the selfie route and to the door
    selfie = stack.api.request(
        "POST", f"/register/{invite['token']}/selfie", body=JPEG, headers={"content-type": "image/png"}
    )
    path = f"/doors/{stack.door_id}/verify"
    door = stack.api.request(
        "POST", path, body=JPEG, headers=stack.signed_headers(path, JPEG, content_type="image/png")
    )
    # Then both answer 415 content_type_mismatch, before any face work
    assert (selfie.status, selfie.error_code) == (415, "content_type_mismatch")
    assert (door.status, door.error_code) == (415, "content_type_mismatch")


def test_multipart_part_declaring_the_wrong_image_type_is_415_on_both_routes(stack: Stack) -> None:
    # Given multipart bodies whose part declares image/jpeg but holds a PNG
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    selfie_body, selfie_type = multipart([PNG], "image", "image/jpeg")
    frame_body, frame_type = multipart([PNG], "frame", "image/jpeg")
    # When posted to both routes
    selfie = stack.api.request(
        "POST", f"/register/{invite['token']}/selfie", body=selfie_body, headers={"content-type": selfie_type}
    )
    path = f"/doors/{stack.door_id}/verify"
    door = stack.api.request(
        "POST", path, body=frame_body, headers=stack.signed_headers(path, frame_body, content_type=frame_type)
    )
    # Then both are 415 content_type_mismatch; the matching declarations are accepted
    assert (selfie.status, selfie.error_code) == (415, "content_type_mismatch")
    assert (door.status, door.error_code) == (415, "content_type_mismatch")
    good_body, good_type = multipart([PNG], "image", "image/png")
    accepted = stack.api.request(
        "POST", f"/register/{invite['token']}/selfie", body=good_body, headers={"content-type": good_type}
    )
    assert accepted.status == 201, accepted.body
    octet_body, octet_type = multipart([JPEG], "frame", "application/octet-stream")
    door_ok = stack.api.request(
        "POST", path, body=octet_body, headers=stack.signed_headers(path, octet_body, content_type=octet_type)
    )
    assert door_ok.status == 200 and json.loads(door_ok.body)["decision"] in {"grant", "deny"}

"""The client SDK against an in-test HTTP server that plays the facegate API (docs/api.md).

The server checks terminal signatures with its own implementation of the canonical string, answers
with contract-shaped bodies and errors, and injects failures to exercise the retry policy.
"""

from __future__ import annotations

import base64
import dataclasses
import email.message
import email.parser
import email.policy
import hashlib
import hmac
import io
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

import facegate_client as fc
from facegate_client import cli
from facegate_client.errors import parse_retry_after
from helpers import local_http_server

TOKEN = "tok_" + "A" * 39
KEY_ID = "k_test"
SECRET = "s3cr3t-terminal-secret"
DOOR = "d_123"

Reply = tuple[int, Any, dict[str, str]]


@dataclasses.dataclass
class Seen:
    """One request as the fake API received it."""

    method: str
    target: str
    headers: email.message.Message
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Seen], Reply]


class FakeApi:
    """Routes (method, path) to scripted replies: each reply is used once, the last one repeats."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._routes: dict[tuple[str, str], list[Reply | Handler]] = {}
        self._lock = threading.Lock()
        self.url = ""

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        self._routes[(method, path)] = list(replies)

    def hits(self, method: str, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method and seen.path == path]

    def handle(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            queue = self._routes.get((seen.method, seen.path))
            if not queue:
                return 404, {"error": {"code": "not_found", "message": "no such route"}}, {}
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(seen) if callable(reply) else reply


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    def serve(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        status, payload, headers = fake.handle(Seen(handler.command, handler.path, handler.headers, body))
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        handler.send_response(status)
        content_type = "application/json" if not isinstance(payload, bytes | str) else "text/html"
        handler.send_header("Content-Type", headers.pop("Content-Type", content_type))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    with local_http_server(serve) as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()


# ----- contract-shaped bodies -------------------------------------------------------------------

T0 = "2026-11-28T09:00:00Z"
T1 = "2026-11-28T17:00:00Z"


def error(status: int, code: str, message: str = "refused", **headers: str) -> Reply:
    return status, {"error": {"code": code, "message": message}}, dict(headers)


def site_json(**extra: Any) -> dict[str, Any]:
    return {
        "site_id": "s_1",
        "name": "HQ",
        "timezone": "Asia/Seoul",
        "security_level": "standard",
        "policy": {"level": "standard", "face_only": [], "claim": []},
        "created_at": T0,
        **extra,
    }


def notice_json() -> dict[str, Any]:
    return {
        "consent_version": "2026-11-01",
        "controller": "Example Ministry",
        "purpose": "building access",
        "data_stored": ["face template", "consent record"],
        "retention": "invite window + 24 h",
        "site_name": "HQ",
        "valid_from": T0,
        "valid_until": T1,
        "rights": ["erase at any time"],
        "text": {"en": "We store ...", "ko": "저장 ..."},
    }


def status_json(state: str = "invited", **extra: Any) -> dict[str, Any]:
    return {"status": state, "valid_from": T0, "valid_until": T1, **extra}


def enrollment_json(n_images: int = 1) -> dict[str, Any]:
    quality = {
        "ok": True,
        "face_size_px": 88.0,
        "box_height_px": 160.0,
        "sharpness": 140.2,
        "brightness": 120.0,
        "yaw": 3.0,
        "pitch": -2.0,
        "roll": 1.0,
        "issues": [],
        "flags": [],
    }
    return {
        "status": "enrolled",
        "quality": [quality] * n_images,
        "claim_code": "K7QF2M9X",
        "enrolled_at": T0,
        "n_images": n_images,
    }


def decision_json(decision: str = "grant", **extra: Any) -> dict[str, Any]:
    """The verify answer: decision, decision_id, unlock_token (grant only), next (null on grant) and hint."""
    return {
        "decision": decision,
        "decision_id": "dec_1",
        "unlock_token": "x.y.z" if decision == "grant" else None,
        "next": None if decision == "grant" else "show_code",
        "hint": None,
        **extra,
    }


# ----- the server's own signature check (independent of the SDK) --------------------------------


def server_string_to_sign(seen: Seen) -> str:
    lines = [
        seen.method,
        seen.path,
        seen.headers["X-Facegate-Timestamp"],
        seen.headers["X-Facegate-Nonce"],
        hashlib.sha256(seen.body).hexdigest(),
    ]
    if seen.headers.get("X-Facegate-Claim") is not None:
        lines.append(seen.headers["X-Facegate-Claim"])
    return "\n".join(lines)


def signed(inner: Reply, secrets_by_key: dict[str, str] | None = None) -> Handler:
    """A terminal route: checks headers, clock skew, nonce reuse and the HMAC, then replies ``inner``."""
    keys = secrets_by_key or {KEY_ID: SECRET}
    nonces: set[str] = set()

    def handle(seen: Seen) -> Reply:
        names = ("X-Facegate-Key-Id", "X-Facegate-Timestamp", "X-Facegate-Nonce", "X-Facegate-Signature")
        if any(seen.headers.get(name) is None for name in names) or len(seen.headers["X-Facegate-Nonce"]) < 16:
            return error(401, "missing_signature")
        secret = keys.get(seen.headers["X-Facegate-Key-Id"])
        if secret is None:
            return error(401, "unknown_key")
        if abs(int(seen.headers["X-Facegate-Timestamp"]) - time.time()) > 60:
            return error(401, "clock_skew")
        if seen.headers["X-Facegate-Nonce"] in nonces:
            return error(401, "nonce_reused")
        nonces.add(seen.headers["X-Facegate-Nonce"])
        expected = hmac.new(secret.encode(), server_string_to_sign(seen).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, seen.headers["X-Facegate-Signature"]):
            return error(401, "invalid_signature")
        return inner

    return handle


# ----- images and helpers -----------------------------------------------------------------------


def image_bytes(width: int, height: int, fmt: str = "JPEG", **save: Any) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def parse_multipart(seen: Seen) -> list[email.message.Message]:
    head = f"Content-Type: {seen.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + seen.body)
    assert message.is_multipart()
    return list(message.iter_parts())


def payload(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def visitor(api: FakeApi, **kwargs: Any) -> fc.VisitorClient:
    kwargs.setdefault("sleep", Sleeps())
    return fc.VisitorClient(f"{api.url}/register/{TOKEN}", **kwargs)


def terminal(api: FakeApi, **kwargs: Any) -> fc.TerminalClient:
    kwargs.setdefault("sleep", Sleeps())
    return fc.TerminalClient(api.url, KEY_ID, SECRET, **kwargs)


def admin(api: FakeApi, **kwargs: Any) -> fc.AdminClient:
    kwargs.setdefault("sleep", Sleeps())
    return fc.AdminClient(api.url, "id-token-123", **kwargs)


def invite_json(api: FakeApi, invite_id: str = "i_1", token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    """The answer of ``POST /sites/s_1/invites`` for an invite to DOOR from T0 to T1 (``extra``: more keys)."""
    return {
        "invite_id": invite_id,
        "registration_url": f"{api.url}/register/{token}",
        "token": token,
        "site_id": "s_1",
        "door_ids": [DOOR],
        "valid_from": T0,
        "valid_until": T1,
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SMALL_JPEG = image_bytes(320, 240)
VERIFY = f"/doors/{DOOR}/verify"
REGISTER = f"/register/{TOKEN}"


# ----- signing ----------------------------------------------------------------------------------


def test_canonical_string_is_the_documented_layout() -> None:
    # Given a request with and without a claim
    body = b"face-bytes"
    digest = hashlib.sha256(body).hexdigest()
    # When the canonical strings are built
    plain = fc.canonical_string("post", VERIFY, 1764320400, "n" * 16, body)
    with_claim = fc.canonical_string("POST", VERIFY, "1764320400", "n" * 16, body, claim="K7QF2M9X")
    # Then they are the lines of docs/api.md, the claim appended only when present
    assert plain == f"POST\n{VERIFY}\n1764320400\n{'n' * 16}\n{digest}"
    assert with_claim == plain + "\nK7QF2M9X"


def test_sign_request_matches_an_independent_hmac() -> None:
    # Given the server's own string-to-sign for a claimed request
    stamp, nonce, body = 1764320400, "abcdefghijklmnopqrst", b"\xff\xd8\xff jpeg"
    message = f"POST\n{VERIFY}\n{stamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}\nK7QF2M9X"
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    # When the SDK signs it
    signature = fc.sign_request(SECRET, "POST", VERIFY, stamp, nonce, body, claim="K7QF2M9X")
    # Then both agree, as 64 lowercase hex characters
    assert signature == expected
    assert len(signature) == 64
    assert signature == signature.lower()


@pytest.mark.parametrize(
    ("path", "stamp", "nonce", "claim"),
    [
        ("/doors/d/verify?x=1", 1, "n" * 16, None),
        ("doors/d/verify", 1, "n" * 16, None),
        (VERIFY, "12a", "n" * 16, None),
        (VERIFY, 1, "short", None),
        (VERIFY, 1, "n" * 16, "a\nb"),
    ],
)
def test_canonical_string_refuses_ambiguous_inputs(path: str, stamp: int | str, nonce: str, claim: str | None) -> None:
    # Given an input that would make the signed string ambiguous or invalid
    # When / Then it is refused before signing
    with pytest.raises(ValueError):
        fc.canonical_string("POST", path, stamp, nonce, b"", claim)


# ----- terminal ---------------------------------------------------------------------------------


def test_verify_one_frame_is_a_signed_jpeg_body(api: FakeApi) -> None:
    # Given a door route that checks signatures on its own
    api.on("POST", VERIFY, signed((200, decision_json("grant"), {})))
    # When a terminal verifies one small JPEG
    decision = terminal(api).verify(SMALL_JPEG, DOOR)
    # Then the request passed the server's check and carried the bytes untouched as image/jpeg
    assert decision.granted
    assert decision.next is None
    assert decision.unlock_token == "x.y.z"
    (seen,) = api.hits("POST", VERIFY)
    assert seen.headers["Content-Type"] == "image/jpeg"
    assert seen.body == SMALL_JPEG
    assert seen.headers.get("X-Facegate-Claim") is None
    assert len(seen.headers["X-Facegate-Nonce"]) >= 16


def test_verify_burst_with_claim_is_multipart_frames_and_signs_the_claim(api: FakeApi) -> None:
    # Given a door route that checks signatures, including the claim line
    api.on("POST", VERIFY, signed((200, decision_json("deny", next="see_reception"), {})))
    frames = [SMALL_JPEG, image_bytes(200, 200, "PNG"), image_bytes(100, 120, "WEBP")]
    # When a terminal sends a three-frame burst with a claim code (padded with spaces)
    decision = terminal(api).verify(frames, DOOR, claim=" K7QF2M9X ")
    # Then it is a deny (not an error), and the body is multipart with three parts named "frame"
    assert not decision.granted
    assert decision.next == "see_reception"
    assert decision.unlock_token is None
    (seen,) = api.hits("POST", VERIFY)
    assert seen.headers["X-Facegate-Claim"] == "K7QF2M9X"
    parts = parse_multipart(seen)
    assert [part.get_param("name", header="content-disposition") for part in parts] == ["frame"] * 3
    assert [part.get_content_type() for part in parts] == ["image/jpeg", "image/png", "image/webp"]
    assert payload(parts[0]) == SMALL_JPEG


def test_decision_is_not_an_oracle_and_keeps_unknown_fields_aside() -> None:
    # Given a deny as the API gives it, and one from a server that adds a field
    plain = decision_json("deny", next="retry")
    newer = {**decision_json("grant"), "liveness": "passed"}
    # When the SDK reads them
    denied = fc.Decision.from_json(plain)
    granted = fc.Decision.from_json(newer)
    # Then the deny says what to do next and nothing about scores; unknown fields stay in raw
    assert (denied.decision, denied.decision_id, denied.next, denied.unlock_token) == ("deny", "dec_1", "retry", None)
    assert not hasattr(denied, "similarity") and not hasattr(denied, "threshold") and not hasattr(denied, "reason")
    assert denied.to_dict() == plain
    assert granted.granted and granted.next is None and granted.raw == {"liveness": "passed"}
    assert "x.y.z" not in repr(granted)


def test_each_verify_uses_a_fresh_nonce(api: FakeApi) -> None:
    # Given a server that refuses reused nonces
    api.on("POST", VERIFY, signed((200, decision_json(), {})))
    client = terminal(api)
    # When the same frame is verified twice
    client.verify(SMALL_JPEG, DOOR)
    client.verify(SMALL_JPEG, DOOR)
    # Then both passed, with different nonces
    nonces = {seen.headers["X-Facegate-Nonce"] for seen in api.hits("POST", VERIFY)}
    assert len(nonces) == 2


def test_verify_signs_the_full_wire_path_under_a_base_path(api: FakeApi) -> None:
    # Given an API mounted under /prod and a door id that needs percent-encoding
    path = "/prod/doors/d%2F1/verify"
    api.on("POST", path, signed((200, decision_json(), {})))
    client = fc.TerminalClient(f"{api.url}/prod/", KEY_ID, SECRET, sleep=Sleeps())
    # When it verifies
    decision = client.verify(SMALL_JPEG, "d/1")
    # Then the signed path is the one on the wire, so the server's check passed
    assert decision.granted
    assert api.hits("POST", path)


def test_verify_with_a_wrong_secret_is_an_authentication_error(api: FakeApi) -> None:
    # Given a terminal whose secret differs from the server's
    api.on("POST", VERIFY, signed((200, decision_json(), {})))
    client = fc.TerminalClient(api.url, KEY_ID, "wrong-secret", sleep=Sleeps())
    # When it verifies
    with pytest.raises(fc.AuthenticationError) as caught:
        client.verify(SMALL_JPEG, DOOR)
    # Then the server's code comes through
    assert caught.value.code == "invalid_signature"
    assert caught.value.status == 401


def test_verify_far_from_server_time_is_clock_skew(api: FakeApi) -> None:
    # Given a terminal whose clock is two minutes behind
    api.on("POST", VERIFY, signed((200, decision_json(), {})))
    client = terminal(api, clock=lambda: time.time() - 120)
    # When it verifies / Then the server refuses with clock_skew
    with pytest.raises(fc.AuthenticationError, match="clock_skew"):
        client.verify(SMALL_JPEG, DOOR)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (error(503, "service_unavailable", **{"Retry-After": "1"}), fc.ServiceUnavailableError),
        (error(429, "cooling_down", **{"Retry-After": "2"}), fc.RateLimitedError),
        (error(500, "internal_error"), fc.ServiceUnavailableError),
    ],
)
def test_verify_is_not_retried_once_a_response_arrived(api: FakeApi, reply: Reply, expected: type[Exception]) -> None:
    # Given a door route that fails, then would succeed
    api.on("POST", VERIFY, reply, (200, decision_json(), {}))
    sleeps = Sleeps()
    # When a terminal verifies
    with pytest.raises(expected):
        terminal(api, sleep=sleeps).verify(SMALL_JPEG, DOOR)
    # Then exactly one attempt was made and nothing was waited for
    assert len(api.hits("POST", VERIFY)) == 1
    assert sleeps == []


def test_verify_cooling_down_exposes_retry_after(api: FakeApi) -> None:
    # Given a terminal cooling down after repeated denies
    api.on("POST", VERIFY, error(429, "cooling_down", **{"Retry-After": "30"}))
    # When it verifies
    with pytest.raises(fc.RateLimitedError) as caught:
        terminal(api).verify(SMALL_JPEG, DOOR)
    # Then the door UI can tell how long to wait
    assert caught.value.code == "cooling_down"
    assert caught.value.retry_after == 30.0


class FlakyTransport:
    """Fails the first ``failures`` sends with a TransportError, then delegates to the real transport."""

    def __init__(self, failures: int, *, sent: bool) -> None:
        self.failures = failures
        self.sent = sent
        self.requests: list[fc.HttpRequest] = []
        self.inner = fc.HttpTransport()

    def send(self, request: fc.HttpRequest) -> fc.HttpResponse:
        self.requests.append(request)
        if self.failures:
            self.failures -= 1
            raise fc.TransportError("connection_failed", "simulated", sent=self.sent)
        return self.inner.send(request)


def test_verify_retries_an_unsent_request_with_a_fresh_signature(api: FakeApi) -> None:
    # Given a network that refuses the first two connections
    api.on("POST", VERIFY, signed((200, decision_json(), {})))
    transport = FlakyTransport(2, sent=False)
    sleeps = Sleeps()
    # When a terminal verifies
    decision = terminal(api, transport=transport, sleep=sleeps).verify(SMALL_JPEG, DOOR)
    # Then it retried after backoff, each attempt with its own nonce, and the server saw one valid request
    assert decision.granted
    assert len(transport.requests) == 3
    assert len(sleeps) == 2
    assert len({request.headers["X-Facegate-Nonce"] for request in transport.requests}) == 3
    assert len(api.hits("POST", VERIFY)) == 1


def test_verify_is_not_retried_when_the_request_may_have_been_sent(api: FakeApi) -> None:
    # Given a connection that drops after the request was written
    api.on("POST", VERIFY, signed((200, decision_json(), {})))
    transport = FlakyTransport(1, sent=True)
    # When a terminal verifies / Then the failure surfaces at once
    with pytest.raises(fc.TransportError) as caught:
        terminal(api, transport=transport).verify(SMALL_JPEG, DOOR)
    assert caught.value.sent
    assert len(transport.requests) == 1


def test_connection_refused_is_retried_then_a_transport_error() -> None:
    # Given nothing listening on a port
    client = fc.TerminalClient(f"http://127.0.0.1:{free_port()}", KEY_ID, SECRET, retries=2, sleep=(sleeps := Sleeps()))
    # When a terminal verifies
    with pytest.raises(fc.TransportError) as caught:
        client.verify(SMALL_JPEG, DOOR)
    # Then every attempt failed to connect, so it was retried twice
    assert caught.value.code == "connection_failed"
    assert caught.value.sent is False
    assert caught.value.status is None
    assert len(sleeps) == 2


def test_verify_refuses_more_than_three_frames(api: FakeApi) -> None:
    # Given four frames / When verifying / Then the client refuses before sending
    with pytest.raises(ValueError, match="1 to 3"):
        terminal(api).verify([SMALL_JPEG] * 4, DOOR)
    assert api.seen == []


# ----- visitor ----------------------------------------------------------------------------------


def test_registration_url_parsing() -> None:
    # Given links with a base path, a trailing slash and a fragment
    # When parsed / Then the API base and token come out
    assert fc.parse_registration_url(f"https://api.example/prod/register/{TOKEN}/#x") == (
        "https://api.example/prod",
        TOKEN,
    )
    assert fc.parse_registration_url(f"http://127.0.0.1:8080/register/{TOKEN}") == ("http://127.0.0.1:8080", TOKEN)
    for bad in ("https://api.example/invite/abc", "ftp://x/register/abc", "https://x/register/a+b"):
        with pytest.raises(ValueError):
            fc.parse_registration_url(bad)


def test_notice_consent_status_erase(api: FakeApi) -> None:
    # Given the visitor routes
    api.on("GET", f"{REGISTER}/notice", (200, notice_json(), {}))
    api.on("POST", f"{REGISTER}/consent", (201, {"consent_version": "2026-11-01", "accepted_at": T0}, {}))
    api.on("GET", f"{REGISTER}/status", (200, status_json("consented", consent_version="2026-11-01"), {}))
    api.on("DELETE", REGISTER, (200, {"erased_at": T1, "items": ["template", "consent"]}, {}))
    client = visitor(api)
    # When the visitor reads the notice, consents without naming a version, checks status and erases
    notice = client.notice()
    consent = client.consent()
    status = client.status()
    receipt = client.erase()
    # Then consent used the notice's version and each result is typed
    assert api.hits("POST", f"{REGISTER}/consent")[0].json() == {"consent_version": "2026-11-01", "accepted": True}
    assert notice.text["ko"].startswith("저장")
    assert notice.valid_until == datetime(2026, 11, 28, 17, tzinfo=UTC)
    assert consent.accepted_at == datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert status.status == "consented"
    assert status.enrolled_at is None
    assert receipt.erased_at.hour == 17
    assert receipt.items == ["template", "consent"]
    assert TOKEN not in repr(client)


def test_enroll_one_image_is_a_raw_body_with_an_idempotency_key(api: FakeApi, tmp_path: Path) -> None:
    # Given a small PNG file on disk
    path = tmp_path / "selfie.png"
    path.write_bytes(png := image_bytes(640, 480, "PNG"))
    api.on("POST", f"{REGISTER}/selfie", (201, enrollment_json(1), {}))
    # When the visitor enrolls it by path
    enrollment = visitor(api).enroll(path)
    # Then the PNG went out untouched with its type, and the result is typed
    (seen,) = api.hits("POST", f"{REGISTER}/selfie")
    assert seen.headers["Content-Type"] == "image/png"
    assert seen.body == png
    assert len(seen.headers["Idempotency-Key"]) >= 16
    assert enrollment.claim_code == "K7QF2M9X"
    assert "K7QF2M9X" not in repr(enrollment)
    assert enrollment.quality[0].ok
    assert enrollment.quality[0].sharpness == pytest.approx(140.2)


def test_enroll_three_images_is_multipart_with_image_parts_and_downscaled(api: FakeApi) -> None:
    # Given a large PNG, a small JPEG and a PIL image
    api.on("POST", f"{REGISTER}/selfie", (201, enrollment_json(3), {}))
    large = image_bytes(3000, 2000, "PNG")
    pil = Image.new("RGBA", (400, 300), (10, 200, 30, 128))
    # When the visitor enrolls the three
    enrollment = visitor(api).enroll([large, SMALL_JPEG, pil])
    # Then three parts named "image" arrive, the large one as a 1280-px JPEG, the small JPEG untouched
    assert enrollment.n_images == 3
    parts = parse_multipart(api.hits("POST", f"{REGISTER}/selfie")[0])
    assert [part.get_param("name", header="content-disposition") for part in parts] == ["image"] * 3
    assert [part.get_content_type() for part in parts] == ["image/jpeg"] * 3
    first = Image.open(io.BytesIO(payload(parts[0])))
    assert first.format == "JPEG"
    assert first.size == (1280, 853)
    assert payload(parts[1]) == SMALL_JPEG
    assert Image.open(io.BytesIO(payload(parts[2]))).size == (400, 300)


def test_enroll_retries_503_with_the_same_idempotency_key(api: FakeApi) -> None:
    # Given a selfie route that fails twice with 503 (no Retry-After), then enrolls
    api.on(
        "POST",
        f"{REGISTER}/selfie",
        error(503, "service_unavailable"),
        error(503, "service_unavailable"),
        (201, enrollment_json(), {}),
    )
    sleeps = Sleeps()
    # When the visitor enrolls
    visitor(api, sleep=sleeps).enroll(SMALL_JPEG)
    # Then three attempts carried one key, after full-jitter backoff within 0.2 s then 0.4 s
    keys = [seen.headers["Idempotency-Key"] for seen in api.hits("POST", f"{REGISTER}/selfie")]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.2
    assert 0 <= sleeps[1] <= 0.4


def test_each_enroll_call_has_its_own_key_unless_given(api: FakeApi) -> None:
    # Given a selfie route
    api.on("POST", f"{REGISTER}/selfie", (201, enrollment_json(), {}))
    client = visitor(api)
    # When enrolling twice with generated keys and once with an explicit key
    client.enroll(SMALL_JPEG)
    client.enroll(SMALL_JPEG)
    client.enroll(SMALL_JPEG, idempotency_key="my-key-0123456789")
    # Then the generated keys differ and the explicit one is sent as is
    keys = [seen.headers["Idempotency-Key"] for seen in api.hits("POST", f"{REGISTER}/selfie")]
    assert keys[0] != keys[1]
    assert keys[2] == "my-key-0123456789"


def test_retry_after_is_honoured(api: FakeApi) -> None:
    # Given a status route that is rate limited once with Retry-After: 1
    api.on("GET", f"{REGISTER}/status", error(429, "rate_limited", **{"Retry-After": "1"}), (200, status_json(), {}))
    sleeps = Sleeps()
    # When the visitor reads the status
    status = visitor(api, sleep=sleeps).status()
    # Then the client waited exactly the server's delay and succeeded
    assert status.status == "invited"
    assert sleeps == [1.0]


def test_retry_after_beyond_the_cap_is_not_waited_for(api: FakeApi) -> None:
    # Given a rate limit asking for 60 s, beyond the 5 s cap
    api.on("GET", f"{REGISTER}/status", error(429, "rate_limited", **{"Retry-After": "60"}), (200, status_json(), {}))
    sleeps = Sleeps()
    # When the visitor reads the status
    with pytest.raises(fc.RateLimitedError) as caught:
        visitor(api, sleep=sleeps).status()
    # Then the error surfaces at once with the delay, after one attempt
    assert caught.value.retry_after == 60.0
    assert sleeps == []
    assert len(api.hits("GET", f"{REGISTER}/status")) == 1


def test_retries_are_bounded(api: FakeApi) -> None:
    # Given a status route that always fails
    api.on("GET", f"{REGISTER}/status", error(503, "service_unavailable"))
    sleeps = Sleeps()
    # When the visitor reads the status with 3 retries
    with pytest.raises(fc.ServiceUnavailableError):
        visitor(api, sleep=sleeps, retries=3).status()
    # Then there were 4 attempts and 3 waits, none above the 5 s cap
    assert len(api.hits("GET", f"{REGISTER}/status")) == 4
    assert len(sleeps) == 3
    assert all(0 <= delay <= fc.BACKOFF_CAP_S for delay in sleeps)


def test_consent_is_not_retried_on_503(api: FakeApi) -> None:
    # Given a consent route that fails once
    api.on("POST", f"{REGISTER}/consent", error(503, "service_unavailable"), (201, {}, {}))
    # When the visitor consents / Then the error surfaces after one attempt (POST without idempotency key)
    with pytest.raises(fc.ServiceUnavailableError):
        visitor(api).consent("2026-11-01")
    assert len(api.hits("POST", f"{REGISTER}/consent")) == 1


def test_timeout_is_a_transport_error(api: FakeApi) -> None:
    # Given a status route that never answers in time
    def stall(seen: Seen) -> Reply:
        api.release.wait(10)
        return 200, status_json(), {}

    api.on("GET", f"{REGISTER}/status", stall)
    sleeps = Sleeps()
    # When the visitor reads the status with a 0.2 s timeout and one retry
    with pytest.raises(fc.TransportError) as caught:
        visitor(api, timeout=0.2, retries=1, sleep=sleeps).status()
    # Then it timed out, and the GET was retried once
    assert caught.value.code == "timeout"
    assert caught.value.sent is True
    assert len(sleeps) == 1


def test_face_quality_error_carries_the_reason(api: FakeApi) -> None:
    # Given a selfie without a face
    api.on("POST", f"{REGISTER}/selfie", error(422, "no_face", "no face was found"))
    # When the visitor enrolls it
    with pytest.raises(fc.FaceQualityError) as caught:
        visitor(api).enroll(SMALL_JPEG)
    # Then the reason is the code, and 422 is not retried
    assert caught.value.code == "no_face"
    assert caught.value.message == "no face was found"
    assert len(api.hits("POST", f"{REGISTER}/selfie")) == 1


# ----- error mapping ----------------------------------------------------------------------------

ERROR_CASES = [
    (error(400, "invalid_request"), fc.BadRequestError, "invalid_request", None),
    (error(400, "corrupt_image"), fc.BadRequestError, "corrupt_image", None),
    *[
        (error(401, code), fc.AuthenticationError, code, None)
        for code in (
            "unauthorized",
            "invalid_token",
            "missing_signature",
            "unknown_key",
            "key_revoked",
            "clock_skew",
            "nonce_reused",
            "invalid_signature",
        )
    ],
    (error(403, "door_not_allowed"), fc.PermissionDeniedError, "door_not_allowed", None),
    (error(404, "not_found"), fc.NotFoundError, "not_found", None),
    (error(409, "consent_required"), fc.ConflictError, "consent_required", None),
    (error(410, "invite_expired"), fc.GoneError, "invite_expired", None),
    (error(413, "payload_too_large"), fc.PayloadTooLargeError, "payload_too_large", None),
    (error(415, "unsupported_media_type"), fc.UnsupportedMediaTypeError, "unsupported_media_type", None),
    (error(422, "pose_too_far"), fc.FaceQualityError, "pose_too_far", None),
    (error(429, "rate_limited", **{"Retry-After": "7"}), fc.RateLimitedError, "rate_limited", 7.0),
    (error(500, "internal_error"), fc.ServiceUnavailableError, "internal_error", None),
    (error(503, "service_unavailable", **{"Retry-After": "3"}), fc.ServiceUnavailableError, "service_unavailable", 3.0),
    ((401, {"message": "Unauthorized"}, {}), fc.AuthenticationError, "unauthorized", None),
    ((403, {"message": "Forbidden"}, {}), fc.PermissionDeniedError, "http_403", None),
    ((413, {"message": "Request Entity Too Large"}, {}), fc.PayloadTooLargeError, "http_413", None),
    ((502, "<html><body>Bad Gateway</body></html>", {}), fc.ServiceUnavailableError, "http_502", None),
    ((504, b"", {}), fc.ServiceUnavailableError, "http_504", None),
    ((418, "teapot", {}), fc.FacegateClientError, "http_418", None),
]


@pytest.mark.parametrize(("reply", "expected", "code", "retry_after"), ERROR_CASES)
def test_error_mapping(
    api: FakeApi, reply: Reply, expected: type[fc.FacegateClientError], code: str, retry_after: float | None
) -> None:
    # Given an admin route answering with an error status
    api.on("POST", "/sites", reply)
    # When an admin creates a site (a POST: never retried after a response)
    with pytest.raises(fc.FacegateClientError) as caught:
        admin(api).create_site("HQ", "Asia/Seoul")
    # Then the error has the class of its status, the code and the delay
    assert type(caught.value) is expected
    assert caught.value.status == reply[0]
    assert caught.value.code == code
    assert caught.value.retry_after == retry_after
    assert "<html>" not in caught.value.message


def test_retry_after_http_date() -> None:
    # Given a Retry-After HTTP date 90 s ahead / When parsed / Then it is 90 s
    now = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 28 Nov 2026 09:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("soon", now=now) is None


def test_unexpected_success_bodies(api: FakeApi) -> None:
    # Given success responses that break the contract
    api.on("GET", f"{REGISTER}/status", (200, "<html>not json</html>", {}))
    api.on("GET", f"{REGISTER}/notice", (200, {"consent_version": "v1"}, {}))
    client = visitor(api)
    # When the visitor calls them / Then they raise UnexpectedResponseError with the status
    with pytest.raises(fc.UnexpectedResponseError) as caught:
        client.status()
    assert caught.value.status == 200
    assert caught.value.code == "invalid_response"
    with pytest.raises(fc.UnexpectedResponseError, match="missing field"):
        client.notice()


# ----- admin ------------------------------------------------------------------------------------


def test_admin_updates_site_security_level(api: FakeApi) -> None:
    # Given the PATCH route answering with the new level and its policy table
    api.on("PATCH", "/sites/s_1", (200, site_json(security_level="high"), {}))
    # When an admin raises the site's security level
    site = admin(api).update_site("s_1", security_level="high")
    # Then only the changed field is sent and the level and policy table come back
    assert api.hits("PATCH", "/sites/s_1")[0].json() == {"security_level": "high"}
    assert site.security_level == "high" and site.policy["level"] == "standard"


def test_admin_creations_send_bearer_and_contract_bodies(api: FakeApi) -> None:
    # Given the admin routes
    api.on("POST", "/sites", (201, site_json(region="ap-northeast-2"), {}))
    api.on(
        "POST", "/sites/s_1/doors", (201, {"door_id": DOOR, "site_id": "s_1", "name": "Gate", "unlock_key": "k"}, {})
    )
    api.on(
        "POST",
        "/sites/s_1/terminals",
        (201, {"terminal_id": "t_1", "key_id": KEY_ID, "secret": SECRET, "site_id": "s_1", "door_ids": [DOOR]}, {}),
    )
    api.on("DELETE", "/terminals/t_1", (200, {"terminal_id": "t_1", "revoked_at": T1}, {}))
    client = admin(api)
    # When an admin creates a site, a door, a terminal and revokes it
    site = client.create_site("HQ", "Asia/Seoul", security_level="high")
    door = client.create_door("s_1", "Gate")
    term = client.create_terminal("s_1", "Kiosk", [DOOR])
    revocation = client.revoke_terminal("t_1")
    # Then every request carried the bearer token and the documented bodies; unknown fields are kept
    assert all(seen.headers["Authorization"] == "Bearer id-token-123" for seen in api.seen)
    assert api.hits("POST", "/sites")[0].json() == {"name": "HQ", "timezone": "Asia/Seoul", "security_level": "high"}
    assert api.hits("POST", "/sites/s_1/terminals")[0].json() == {"name": "Kiosk", "door_ids": [DOOR]}
    assert site.raw == {"region": "ap-northeast-2"}
    assert site.to_dict()["region"] == "ap-northeast-2"
    assert site.to_dict()["created_at"] == T0
    assert door.unlock_key == "k"
    assert term.door_ids == (DOOR,)
    assert SECRET not in repr(term)
    assert revocation.revoked_at == datetime(2026, 11, 28, 17, tzinfo=UTC)


def test_create_invite_sends_rfc3339_utc(api: FakeApi) -> None:
    # Given an invite route
    invite = invite_json(api)
    api.on("POST", "/sites/s_1/invites", (201, invite, {}))
    seoul = timezone(timedelta(hours=9))
    # When inviting with an aware Seoul datetime and an offset string
    result = admin(api).create_invite(
        "s_1", [DOOR], datetime(2026, 11, 28, 18, 0, tzinfo=seoul), "2026-11-29T02:00:00+09:00", display_name="Kim"
    )
    # Then both bounds went out as UTC with a Z suffix
    body = api.hits("POST", "/sites/s_1/invites")[0].json()
    assert body == {
        "door_ids": [DOOR],
        "valid_from": "2026-11-28T09:00:00Z",
        "valid_until": "2026-11-28T17:00:00Z",
        "display_name": "Kim",
    }
    assert result.token == TOKEN
    assert TOKEN not in repr(result)


def test_create_invite_refuses_naive_or_reversed_windows(api: FakeApi) -> None:
    # Given a naive datetime and a reversed window / When inviting / Then the client refuses before sending
    client = admin(api)
    with pytest.raises(ValueError, match="naive"):
        client.create_invite("s_1", [DOOR], datetime(2026, 11, 28, 9), T1)
    with pytest.raises(ValueError, match="after"):
        client.create_invite("s_1", [DOOR], T1, T0)
    assert api.seen == []


def test_erase_invite_and_revoke_are_retried(api: FakeApi) -> None:
    # Given an erase route that fails once
    receipt = {"invite_id": "i_1", "erased_at": T1, "items": 3}
    api.on("DELETE", "/invites/i_1", error(502, "bad_gateway"), (200, receipt, {}))
    # When an admin erases the invite
    result = admin(api).erase_invite("i_1")
    # Then the DELETE was retried and the receipt is typed
    assert result.invite_id == "i_1"
    assert result.items == 3
    assert len(api.hits("DELETE", "/invites/i_1")) == 2


def test_audit_follows_next_token(api: FakeApi) -> None:
    # Given a three-page audit log
    record = {"at": T0, "decision": "grant", "door_id": DOOR, "similarity": 0.8, "new_field": 1}

    def page(seen: Seen) -> Reply:
        token = seen.query.get("next_token", [""])[0]
        following = {"": "p2", "p2": "p3", "p3": None}[token]
        return 200, {"items": [record, record], "next_token": following}, {}

    api.on("GET", "/sites/s_1/audit", page)
    client = admin(api)
    # When an admin iterates all records in a window, and then only the first three
    everything = list(client.audit("s_1", start=T0, end=T1, page_size=2))
    first_three = list(client.audit("s_1", max_items=3))
    # Then all pages were read with the window in the query, and max_items stops early
    assert len(everything) == 6
    assert everything[0].decision == "grant"
    assert everything[0].get("new_field") == 1
    queries = [seen.query for seen in api.hits("GET", "/sites/s_1/audit")]
    assert queries[0] == {"from": [T0], "to": [T1], "limit": ["2"]}
    assert queries[1]["next_token"] == ["p2"]
    assert queries[2]["next_token"] == ["p3"]
    assert len(first_three) == 3
    assert len(queries) == 5


# ----- images -----------------------------------------------------------------------------------


def test_detect_content_type() -> None:
    # Given the magic bytes of each format / When detected / Then each maps to its content type
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    avif = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"
    assert fc.detect_content_type(SMALL_JPEG) == "image/jpeg"
    assert fc.detect_content_type(image_bytes(8, 8, "PNG")) == "image/png"
    assert fc.detect_content_type(image_bytes(8, 8, "WEBP")) == "image/webp"
    assert fc.detect_content_type(heic) == "image/heic"
    assert fc.detect_content_type(avif) is None
    assert fc.detect_content_type(b"GIF89a") is None


def test_heic_passes_through_untouched() -> None:
    # Given HEIC bytes (not decodable here) / When prepared / Then they are sent as they are
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    prepared = fc.prepare_image(heic)
    assert prepared.data == heic
    assert prepared.content_type == "image/heic"
    assert not prepared.reencoded


def test_exif_orientation_is_applied_when_downscaling() -> None:
    # Given a 2000x1000 JPEG, left half red, tagged Orientation=6 (display rotated 90° clockwise)
    image = Image.new("RGB", (2000, 1000), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 1000, 1000))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    # When prepared
    prepared = fc.prepare_image(out.getvalue())
    # Then it is upright (portrait, red on top) and its longest side is 1280
    result = Image.open(io.BytesIO(prepared.data))
    assert prepared.reencoded
    assert result.size == (640, 1280)
    red, _, blue = result.getpixel((320, 100))  # type: ignore[misc]
    assert red > 200
    assert blue < 60


def test_other_formats_are_reencoded_and_garbage_refused() -> None:
    # Given a GIF and bytes that are no image
    gif = image_bytes(64, 64, "GIF")
    # When prepared / Then the GIF becomes a JPEG and garbage is refused
    assert fc.prepare_image(gif).content_type == "image/jpeg"
    with pytest.raises(fc.ImageInputError):
        fc.prepare_image(b"definitely not an image")
    with pytest.raises(fc.ImageInputError):
        fc.prepare_image(b"")


# ----- unlock tokens ----------------------------------------------------------------------------

UNLOCK_KEY_BYTES = bytes(range(32))
UNLOCK_KEY = base64.urlsafe_b64encode(UNLOCK_KEY_BYTES).rstrip(b"=").decode()
NOW = 1_764_320_400


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims: dict[str, Any], *, alg: str = "HS256", key: bytes = UNLOCK_KEY_BYTES) -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def claims(**override: Any) -> dict[str, Any]:
    return {"iss": "facegate", "aud": DOOR, "sub": "dec_1", "iat": NOW, "exp": NOW + 10, "jti": "j_1", **override}


def test_unlock_token_valid() -> None:
    # Given a token minted as the contract says / When the door checks it / Then the claims come back
    result = fc.verify_unlock_token(mint(claims(extra="x")), UNLOCK_KEY, DOOR, now=NOW + 5)
    assert result.decision_id == "dec_1"
    assert result.aud == DOOR
    assert result.exp == NOW + 10
    assert result.extra == {"extra": "x"}


@pytest.mark.parametrize(
    ("token", "error_type", "code"),
    [
        (mint(claims(aud="d_other")), fc.UnlockTokenClaimsError, "wrong_audience"),
        (mint(claims(iss="someone")), fc.UnlockTokenClaimsError, "invalid_issuer"),
        (mint(claims(exp=NOW)), fc.UnlockTokenClaimsError, "expired"),
        (mint(claims(exp=NOW + 3600)), fc.UnlockTokenClaimsError, "lifetime_too_long"),
        (mint(claims(jti=None)), fc.UnlockTokenClaimsError, "missing_claim"),
        (mint(claims(), alg="HS512"), fc.UnlockTokenSignatureError, "unsupported_algorithm"),
        (mint(claims(), key=b"\x01" * 32), fc.UnlockTokenSignatureError, "invalid_signature"),
        (
            f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims()).encode())}.",
            fc.MalformedUnlockTokenError,
            "malformed",
        ),
        ("only.two", fc.MalformedUnlockTokenError, "malformed"),
    ],
)
def test_unlock_token_refusals(token: str, error_type: type[fc.UnlockTokenError], code: str) -> None:
    # Given a token that must not open this door / When checked / Then a typed error names why
    with pytest.raises(error_type) as caught:
        fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=NOW + 1)
    assert caught.value.code == code


def test_unlock_token_tampered_payload_and_alg_none() -> None:
    # Given a valid token whose payload was swapped, and one claiming alg "none" with a signature part
    head, _, signature = mint(claims()).split(".")
    tampered = f"{head}.{b64(json.dumps(claims(aud=DOOR, sub='dec_2')).encode())}.{signature}"
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims()).encode())}.{signature}"
    # When checked / Then both are refused
    with pytest.raises(fc.UnlockTokenSignatureError, match="invalid_signature"):
        fc.verify_unlock_token(tampered, UNLOCK_KEY, DOOR, now=NOW)
    with pytest.raises(fc.UnlockTokenSignatureError, match="unsupported_algorithm"):
        fc.verify_unlock_token(unsigned, UNLOCK_KEY, DOOR, now=NOW)


def test_unlock_token_replay_cache() -> None:
    # Given a replay cache shared by the door
    cache = fc.ReplayCache()
    token = mint(claims())
    # When the same token is presented twice
    fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=NOW, replay_cache=cache)
    # Then the second use is refused
    with pytest.raises(fc.UnlockTokenReplayError):
        fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=NOW + 1, replay_cache=cache)


def test_unlock_key_must_be_32_bytes() -> None:
    # Given a 16-byte key / When used / Then it is a configuration error
    with pytest.raises(ValueError, match="32 bytes"):
        fc.verify_unlock_token(mint(claims()), b64(b"\x00" * 16), DOOR, now=NOW)


# ----- CLI --------------------------------------------------------------------------------------


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--retries", "0", *argv], environ=environ or {}, stdout=out, stderr=err)
    return code, json.loads(out.getvalue() or "null"), json.loads(err.getvalue() or "null")


@pytest.fixture
def local_stack(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    local = {
        "api_url": api.url,
        "aws_endpoint_url": "http://127.0.0.1:5000",
        "admin": {"username": "admin", "password": "pw", "token": "local-token"},
        "site_id": "s_1",
        "door_id": DOOR,
        "terminal": {"terminal_id": "t_1", "key_id": KEY_ID, "secret": SECRET},
        "invite": {"invite_id": "i_1", "registration_url": f"{api.url}/register/{TOKEN}", "token": TOKEN},
    }
    (tmp_path / ".facegate").mkdir()
    (tmp_path / ".facegate" / "local.json").write_text(json.dumps(local))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    (tmp_path / "face.jpg").write_bytes(SMALL_JPEG)
    return tmp_path


def test_cli_verify_exit_codes_with_local(api: FakeApi, local_stack: Path) -> None:
    # Given the local stack file and a door that grants, then denies, then refuses the key
    api.on(
        "POST",
        VERIFY,
        signed((200, decision_json("grant"), {})),
        signed((200, decision_json("deny"), {})),
        error(401, "key_revoked"),
    )
    face = str(local_stack / "face.jpg")
    # When the CLI verifies three times
    granted = run_cli("--local", "verify", face)
    denied = run_cli("--local", "verify", face, "--claim", "K7QF2M9X")
    failed = run_cli("--local", "verify", face)
    # Then exit codes are 0, 1, 2 and JSON is printed
    assert granted[0] == 0
    assert granted[1]["decision"] == "grant"
    assert denied[0] == 1
    assert denied[1]["next"] == "show_code"
    assert set(denied[1]) == {"decision", "decision_id", "unlock_token", "next", "hint"}
    assert failed[0] == 2
    assert failed[2] == {"error": {"status": 401, "code": "key_revoked", "message": "refused"}}


def test_cli_invite_enroll_status_erase_with_local(api: FakeApi, local_stack: Path) -> None:
    # Given the local stack file and visitor/admin routes
    invite = invite_json(api, "i_2")
    api.on("POST", "/sites/s_1/invites", (201, invite, {}))
    api.on("GET", f"{REGISTER}/notice", (200, notice_json(), {}))
    api.on("GET", f"{REGISTER}/status", (200, status_json("invited"), {}))
    api.on("POST", f"{REGISTER}/consent", (201, {"consent_version": "2026-11-01", "accepted_at": T0}, {}))
    api.on("POST", f"{REGISTER}/selfie", (201, enrollment_json(), {}))
    api.on("DELETE", REGISTER, (200, {"erased_at": T1, "items": []}, {}))
    face = str(local_stack / "face.jpg")
    # When the CLI invites, enrolls with consent, reads the status and erases
    invited = run_cli("--local", "invite", "--hours", "2", "--display-name", "Kim")
    enrolled = run_cli("--local", "enroll", face, "--consent")
    status = run_cli("--local", "status")
    erased = run_cli("--local", "erase")
    # Then each succeeded with the local defaults
    assert [invited[0], enrolled[0], status[0], erased[0]] == [0, 0, 0, 0]
    body = api.hits("POST", "/sites/s_1/invites")[0]
    assert body.headers["Authorization"] == "Bearer local-token"
    assert body.json()["door_ids"] == [DOOR]
    assert body.json()["valid_until"].endswith("Z")
    assert body.json()["display_name"] == "Kim"
    assert len(api.hits("POST", f"{REGISTER}/consent")) == 1
    assert enrolled[1]["claim_code"] == "K7QF2M9X"
    assert status[1]["status"] == "invited"


def test_cli_audit_from_environment(api: FakeApi) -> None:
    # Given settings only in the environment
    api.on("GET", "/sites/s_9/audit", (200, {"items": [{"at": T0, "decision": "deny"}], "next_token": None}, {}))
    environ = {"FACEGATE_API_URL": api.url, "FACEGATE_TOKEN": "env-token", "FACEGATE_SITE_ID": "s_9"}
    # When the CLI reads the audit log
    code, out, _ = run_cli("audit", "--from", T0, environ=environ)
    # Then it used the environment and printed the records
    assert code == 0
    assert out["count"] == 1
    assert out["items"][0]["decision"] == "deny"
    assert api.hits("GET", "/sites/s_9/audit")[0].headers["Authorization"] == "Bearer env-token"


def test_cli_missing_settings_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no settings at all and no local file
    monkeypatch.chdir(tmp_path)
    # When commands run / Then they fail with exit code 2 and a JSON error
    code, _, err = run_cli("verify", "face.jpg")
    assert code == 2
    assert err["error"]["code"] == "usage"
    code, _, err = run_cli("--local", "status")
    assert code == 2
    assert "local.json" in err["error"]["message"]


def test_small_jpeg_with_gps_metadata_is_reencoded_without_it() -> None:
    # Given a small JPEG whose EXIF carries a GPS position
    import io

    from PIL import Image

    from facegate_client.images import prepare_image

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0), 3: "E", 4: (126.0, 58.0, 0.0)}
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, "JPEG", exif=exif)
    # When it is prepared for upload
    prepared = prepare_image(buffer.getvalue())
    # Then it is re-encoded and the metadata is gone
    assert prepared.reencoded
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert not sent.getexif()


# ----- issue 15: what a new user ran into -------------------------------------------------------


def test_item1_enroll_without_url_uses_the_invite_just_created(api: FakeApi, local_stack: Path) -> None:
    # Given the local stack file (its demo invite is TOKEN) and an invite route that creates another invite
    new_token = "tok_" + "B" * 39
    new_register = f"/register/{new_token}"
    api.on("POST", "/sites/s_1/invites", (201, invite_json(api, "i_new", new_token), {}))
    for register in (REGISTER, new_register):
        api.on("GET", f"{register}/notice", (200, notice_json(), {}))
        api.on("GET", f"{register}/status", (200, status_json("invited"), {}))
        api.on("POST", f"{register}/consent", (201, {"consent_version": "2026-11-01", "accepted_at": T0}, {}))
        api.on("POST", f"{register}/selfie", (201, enrollment_json(), {}))
    face = str(local_stack / "face.jpg")

    # When the host invites and the visitor enrolls with consent, without --url
    invited = run_cli("--local", "invite", "--hours", "2")
    enrolled = run_cli("--local", "enroll", face, "--consent")
    status = run_cli("--local", "status")

    # Then the new invite was consented to and enrolled, and the demo invite was not touched
    assert [invited[0], enrolled[0], status[0]] == [0, 0, 0]
    assert len(api.hits("POST", f"{new_register}/consent")) == 1
    assert len(api.hits("POST", f"{new_register}/selfie")) == 1
    assert len(api.hits("GET", f"{new_register}/status")) == 2
    assert not any(seen.path.startswith(REGISTER) for seen in api.seen)
    # And the remembered invite sits next to local.json, readable by its owner only, without the bare token
    remembered = local_stack / ".facegate" / "last_invite.json"
    assert json.loads(remembered.read_text()) == {
        "invite_id": "i_new",
        "registration_url": f"{api.url}{new_register}",
        "valid_until": T1,
    }
    assert remembered.stat().st_mode & 0o077 == 0


def test_item1_an_explicit_url_still_wins_and_erasing_the_invite_forgets_it(api: FakeApi, local_stack: Path) -> None:
    # Given an invite created with --local, then the demo link given explicitly
    new_token = "tok_" + "C" * 39
    api.on("POST", "/sites/s_1/invites", (201, invite_json(api, "i_new", new_token), {}))
    api.on("GET", f"{REGISTER}/status", (200, status_json("invited"), {}))
    api.on("DELETE", "/invites/i_new", (200, {"erased_at": T1, "items": []}, {}))
    assert run_cli("--local", "invite")[0] == 0

    # When the status is read with --url, and the host erases the new invite
    status = run_cli("--local", "status", "--url", f"{api.url}{REGISTER}")
    erased = run_cli("--local", "erase", "--invite-id", "i_new")

    # Then --url was used, and the erased invite is no longer remembered
    assert status[0] == 0 and len(api.hits("GET", f"{REGISTER}/status")) == 1
    assert erased[0] == 0, erased
    assert not (local_stack / ".facegate" / "last_invite.json").exists()


def test_item9_global_options_are_accepted_after_the_subcommand(api: FakeApi, local_stack: Path) -> None:
    # Given a status route that fails twice with 503 and then answers
    api.on(
        "GET",
        f"{REGISTER}/status",
        error(503, "service_unavailable", **{"Retry-After": "0"}),
        error(503, "service_unavailable", **{"Retry-After": "0"}),
        (200, status_json("invited"), {}),
    )
    out, err = io.StringIO(), io.StringIO()

    # When --local, --retries and --timeout come after the subcommand
    code = cli.main(["status", "--local", "--retries", "2", "--timeout", "5"], environ={}, stdout=out, stderr=err)

    # Then they are accepted and used: two retries reached the answer
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["status"] == "invited"
    assert len(api.hits("GET", f"{REGISTER}/status")) == 3


def test_item9_an_option_given_before_the_subcommand_is_kept_and_after_it_overrides() -> None:
    # Given the CLI's parser
    parser = cli._parser()

    # When global options come before, after, or on both sides of the subcommand
    before = parser.parse_args(["--retries", "0", "--local", "status"])
    after = parser.parse_args(["verify", "f.jpg", "--retries", "1", "--api-url", "http://x"])
    both = parser.parse_args(["--retries", "0", "audit", "--retries", "5"])
    neither = parser.parse_args(["status"])

    # Then each is honoured, the one after the subcommand winning, and defaults stay when none is given
    assert (before.retries, before.local) == (0, True)
    assert (after.retries, after.api_url, after.images) == (1, "http://x", ["f.jpg"])
    assert both.retries == 5
    assert (neither.retries, neither.timeout, neither.local, neither.local_file) == (3, 10.0, False, None)


def test_item1_a_remembered_invite_older_than_local_json_is_ignored(api: FakeApi, local_stack: Path) -> None:
    # Given an invite remembered before the local stack restarted (local.json rewritten after it)
    new_token = "tok_" + "D" * 39
    api.on("POST", "/sites/s_1/invites", (201, invite_json(api, "i_new", new_token), {}))
    api.on("GET", f"{REGISTER}/status", (200, status_json("invited"), {}))
    assert run_cli("--local", "invite")[0] == 0
    remembered = local_stack / ".facegate" / "last_invite.json"
    local_json = local_stack / ".facegate" / "local.json"
    stamp = remembered.stat().st_mtime_ns
    os.utime(remembered, ns=(stamp - 10**9, stamp - 10**9))
    os.utime(local_json, ns=(stamp, stamp))

    # When the status is read without --url
    code, out, err = run_cli("--local", "status")

    # Then the demo invite of the new local.json is used, not the dead one
    assert code == 0, err
    assert out["status"] == "invited"
    assert len(api.hits("GET", f"{REGISTER}/status")) == 1
    assert not api.hits("GET", f"/register/{new_token}/status")

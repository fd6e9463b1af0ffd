"""The client SDK against the real local stack: every call, the error mapping from real error
responses, retries on injected 503s, request signatures and unlock tokens.

Each test works on its own site (created through the SDK) so the seeded demo site used by the
browser flow keeps exactly the visitors that flow expects; the one test that must use the seeded
door (its unlock key is in local.json) erases its visitor again.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image
from stack_client import STACK_CLIENT

from facegate_client import (
    AdminClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FaceQualityError,
    GoneError,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ReplayCache,
    ServiceUnavailableError,
    TerminalClient,
    TransportError,
    UnlockTokenClaimsError,
    UnlockTokenReplayError,
    UnsupportedMediaTypeError,
    VisitorClient,
    signature_headers,
    verify_unlock_token,
)

if TYPE_CHECKING:
    from conftest import FaceCast

pytestmark = [pytest.mark.e2e]


# --- helpers ------------------------------------------------------------------------------------


@dataclass
class Site:
    """A site of its own for one test: a door, a terminal bound to it, and the admin client."""

    admin: AdminClient
    api_url: str
    site_id: str
    door_id: str
    unlock_key: str
    terminal: Any
    other_door_id: str = ""

    def terminal_client(self, **kwargs: Any) -> TerminalClient:
        return TerminalClient(self.api_url, self.terminal.key_id, self.terminal.secret, **kwargs, **STACK_CLIENT)

    def invite(self, hours: float = 2.0, **kwargs: Any) -> Any:
        now = datetime.now(UTC)
        return self.admin.create_invite(
            self.site_id, [self.door_id], now - timedelta(minutes=1), now + timedelta(hours=hours), **kwargs
        )


@pytest.fixture
def admin(live_stack: dict[str, Any]) -> AdminClient:
    return AdminClient(live_stack["api_url"], live_stack["admin"]["token"], **STACK_CLIENT)


@pytest.fixture
def site(admin: AdminClient, live_stack: dict[str, Any]) -> Site:
    """A fresh site with two doors and a terminal bound to the first."""
    created = admin.create_site("SDK test site", "Asia/Seoul")
    door = admin.create_door(created.site_id, "Gate 1")
    other = admin.create_door(created.site_id, "Gate 2")
    terminal = admin.create_terminal(created.site_id, "Kiosk 1", [door.door_id])
    assert door.unlock_key is not None
    return Site(
        admin=admin,
        api_url=live_stack["api_url"],
        site_id=created.site_id,
        door_id=door.door_id,
        unlock_key=door.unlock_key,
        terminal=terminal,
        other_door_id=other.door_id,
    )


def enrolled_visitor(site: Site, images: list[Path]) -> tuple[Any, VisitorClient, str]:
    """An invite whose visitor has consented and enrolled ``images``; returns (invite, client, claim code)."""
    invite = site.invite(display_name="Kim")
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    visitor.consent()
    enrollment = visitor.enroll(images)
    return invite, visitor, enrollment.claim_code


def noise_png(side: int, seed: int) -> bytes:
    """An incompressible PNG of ``side`` x ``side`` RGB noise (about 3 x side² bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def grey_jpeg() -> bytes:
    """A flat grey photo: decodable, but no face in it."""
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class CountingTransport:
    """The default transport, counting the attempts the SDK makes."""

    inner: HttpTransport = field(default_factory=HttpTransport)
    requests: list[HttpRequest] = field(default_factory=list)

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.inner.send(request)


class FlakyProxy:
    """A tiny HTTP proxy in front of the stack that answers 503 (the API's error shape, with
    ``Retry-After: 1``) to the first ``failures`` requests, then forwards everything."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.failures = failures
        self.seen: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                proxy.seen.append({"method": self.command, "path": self.path, **headers})
                if len(proxy.seen) <= proxy.failures:
                    payload = json.dumps({"error": {"code": "service_unavailable", "message": "try again"}}).encode()
                    self._send(503, {"content-type": "application/json", "retry-after": "1"}, payload)
                    return
                forwarded = HttpTransport().send(
                    HttpRequest(
                        self.command,
                        f"{proxy.upstream.scheme}://{proxy.upstream.netloc}{self.path}",
                        {k: v for k, v in headers.items() if k not in ("host", "connection")},
                        body or None,
                        30.0,
                    )
                )
                self._send(forwarded.status, dict(forwarded.headers), forwarded.body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky_proxy(live_stack: dict[str, Any]) -> Iterator[Callable[[int], FlakyProxy]]:
    proxies: list[FlakyProxy] = []

    def make(failures: int) -> FlakyProxy:
        proxies.append(FlakyProxy(live_stack["api_url"], failures))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


# --- every call ---------------------------------------------------------------------------------


def test_admin_visitor_and_terminal_calls_work_end_to_end(admin: AdminClient, site: Site, face_cast: FaceCast) -> None:
    # Given a fresh site with a door and a terminal, and an invite for a visitor
    started = datetime.now(UTC) - timedelta(seconds=5)
    invite = site.invite(display_name="Kim")
    assert invite.site_id == site.site_id and invite.door_ids == (site.door_id,)
    assert invite.token and invite.registration_url.endswith(invite.token)
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    terminal = site.terminal_client()

    # When the visitor reads the notice, consents and enrolls three selfies
    notice = visitor.notice()
    before = visitor.status()
    consent = visitor.consent(notice.consent_version)
    enrollment = visitor.enroll(list(face_cast.a_enroll))
    status = visitor.status()

    # Then the API reports each step with typed results
    assert notice.site_name == "SDK test site" and notice.consent_version
    assert before.status == "invited" and before.display_name == "Kim"
    assert consent.consent_version == notice.consent_version
    assert enrollment.status == "enrolled" and enrollment.n_images == 3 and len(enrollment.quality) == 3
    assert len(enrollment.claim_code) == 8
    assert status.status == "enrolled" and status.claim_code == enrollment.claim_code

    # When the terminal sends the same three photos (with the claim code where the door asks for it), a
    # stranger, and the stranger with the claim code
    granted = terminal.verify(list(face_cast.a_enroll), site.door_id)
    attempts = [granted]
    if face_cast.identify_threshold is None:  # face-only entry is off at this door: the answer asks for the code
        assert (granted.decision, granted.next) == ("deny", "show_code")
        granted = terminal.verify(list(face_cast.a_enroll), site.door_id, claim=enrollment.claim_code)
        attempts.append(granted)
    stranger = terminal.verify(face_cast.b_probe, site.door_id)
    claimed = terminal.verify(face_cast.b_probe, site.door_id, claim=enrollment.claim_code)
    attempts += [stranger, claimed]

    # Then the visitor is granted with an unlock token for this door, the stranger is denied twice, and the
    # answers carry only the decision and what to do next (no similarity, threshold or reason)
    assert (granted.decision, granted.next) == ("grant", None)
    claims = verify_unlock_token(granted.unlock_token or "", site.unlock_key, door_id=site.door_id)
    assert claims.decision_id == granted.decision_id
    assert (stranger.decision, stranger.next, stranger.unlock_token) == ("deny", "show_code", None)
    assert claimed.decision == "deny" and claimed.unlock_token is None
    assert all(set(a.to_dict()) == {"decision", "decision_id", "unlock_token", "next", "hint"} for a in attempts)

    # When the admin reads the audit log (one page, then all of it lazily)
    page = admin.audit_page(site.site_id, start=started, limit=2)
    records = list(admin.audit(site.site_id, start=started, page_size=2))

    # Then every step and decision is there, paginated by next_token, without the token or the claim code
    assert len(page.items) == 2 and page.next_token
    assert {"invite", "consent", "enroll", "verify"} <= {r.event for r in records}
    decisions = [r for r in records if r.event == "verify"]
    assert sorted(str(r.event_id) for r in decisions) == sorted(a.decision_id for a in attempts)
    # And the precise story is in the audit log only: A matched, B refused by face and then 1:1 on the claim
    by_id = {str(r.event_id): r for r in decisions}
    assert by_id[granted.decision_id].reason == "match"
    assert by_id[stranger.decision_id].reason in {"no_match", "claim_required"}
    assert (by_id[claimed.decision_id].mode, by_id[claimed.decision_id].reason) == ("claim", "claim_mismatch")
    assert all(r.door_id == site.door_id and r.terminal_id == site.terminal.terminal_id for r in decisions)
    dumped = json.dumps([r.to_dict() for r in records], default=str)
    assert str(invite.token) not in dumped and enrollment.claim_code not in dumped

    # When the visitor erases their data, and the admin erases the invite and revokes the terminal
    receipt = visitor.erase()
    erased_status = visitor.status()
    invite_receipt = site.admin.erase_invite(invite.invite_id)
    revocation = site.admin.revoke_terminal(site.terminal.terminal_id)

    # Then receipts come back, the visitor is no longer recognised and the terminal key is dead
    assert set(receipt.items) >= {"template", "claim_code", "consent"}  # type: ignore[arg-type]
    assert erased_status.status == "erased"
    assert invite_receipt.invite_id == invite.invite_id
    assert revocation.terminal_id == site.terminal.terminal_id
    with pytest.raises(AuthenticationError) as revoked:
        terminal.verify(list(face_cast.a_enroll), site.door_id)
    assert revoked.value.code == "key_revoked" and revoked.value.status == 401


def test_unlock_token_of_the_seeded_door_verifies_with_the_key_from_local_json(
    admin: AdminClient, live_stack: dict[str, Any], face_cast: FaceCast
) -> None:
    # Given the seeded door, a terminal of its own for it, and a visitor enrolled there
    state = live_stack
    terminal_record = admin.create_terminal(state["site_id"], "SDK kiosk", [state["door_id"]])
    terminal = TerminalClient(state["api_url"], terminal_record.key_id, terminal_record.secret or "", **STACK_CLIENT)
    now = datetime.now(UTC)
    invite = admin.create_invite(
        state["site_id"], [state["door_id"]], now - timedelta(minutes=1), now + timedelta(hours=1)
    )
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    visitor.consent()
    visitor.enroll(list(face_cast.a_enroll))
    try:
        # When the visitor is checked at the door
        decision = terminal.verify(list(face_cast.a_enroll), state["door_id"])
    finally:
        admin.erase_invite(invite.invite_id)
        admin.revoke_terminal(terminal_record.terminal_id)

    # Then the door controller, holding only local.json's door_unlock_key, accepts the token once
    assert decision.decision == "grant"
    replays = ReplayCache()
    token = decision.unlock_token or ""
    claims = verify_unlock_token(token, state["door_unlock_key"], door_id=state["door_id"], replay_cache=replays)
    assert claims.decision_id == decision.decision_id and claims.iss == "facegate"
    assert claims.exp - claims.iat <= 10
    with pytest.raises(UnlockTokenReplayError):
        verify_unlock_token(token, state["door_unlock_key"], door_id=state["door_id"], replay_cache=replays)
    with pytest.raises(UnlockTokenClaimsError) as wrong_door:
        verify_unlock_token(token, state["door_unlock_key"], door_id="door_somewhere_else")
    assert wrong_door.value.code == "wrong_audience"


# --- error mapping from real responses ----------------------------------------------------------


def test_authentication_errors_carry_the_api_codes(live_stack: dict[str, Any], site: Site) -> None:
    # Given a valid terminal, an admin client with a forged token and a visitor link with an unknown token
    api_url = live_stack["api_url"]
    forged = AdminClient(api_url, live_stack["admin"]["token"][:-8] + "AAAAAAAA", **STACK_CLIENT)
    unknown_visitor = VisitorClient(f"{api_url}/register/{'A' * 43}", **STACK_CLIENT)
    body = grey_jpeg()
    path = f"/doors/{site.door_id}/verify"

    # When each is used
    with pytest.raises(AuthenticationError) as bad_jwt:
        forged.create_site("x", "UTC")
    with pytest.raises(AuthenticationError) as bad_token:
        unknown_visitor.status()
    with pytest.raises(AuthenticationError) as unknown_key:
        TerminalClient(api_url, "key_unknown", "secret", **STACK_CLIENT).verify(body, site.door_id)
    with pytest.raises(AuthenticationError) as skewed:
        site.terminal_client(clock=lambda: time.time() - 120).verify(body, site.door_id)
    with pytest.raises(AuthenticationError) as unsigned:
        site.terminal_client().request("POST", path, body=body, content_type="image/jpeg", idempotent=False)
    headers = signature_headers(site.terminal.key_id, site.terminal.secret, "POST", path, body)
    raw = site.terminal_client()
    raw.request("POST", path, body=body, content_type="image/jpeg", headers=headers, idempotent=False)
    with pytest.raises(AuthenticationError) as replayed:
        raw.request("POST", path, body=body, content_type="image/jpeg", headers=headers, idempotent=False)

    # Then every refusal is a 401 with its stable code
    codes = {
        "jwt": bad_jwt.value.code,
        "invite token": bad_token.value.code,
        "key": unknown_key.value.code,
        "skew": skewed.value.code,
        "unsigned": unsigned.value.code,
        "replay": replayed.value.code,
    }
    assert codes == {
        "jwt": "unauthorized",
        "invite token": "invalid_token",
        "key": "unknown_key",
        "skew": "clock_skew",
        "unsigned": "missing_signature",
        "replay": "nonce_reused",
    }
    for error in (bad_jwt, bad_token, unknown_key, skewed, unsigned, replayed):
        assert error.value.status == 401


def test_a_tampered_body_path_or_claim_breaks_the_signature(site: Site, face_cast: FaceCast) -> None:
    # Given a request signed for one body, one door and no claim code
    path = f"/doors/{site.door_id}/verify"
    signed_body = face_cast.b_probe.read_bytes()
    client = site.terminal_client()

    def send(body: bytes, wire_path: str, extra: dict[str, str] | None = None) -> AuthenticationError:
        headers = signature_headers(site.terminal.key_id, site.terminal.secret, "POST", path, signed_body)
        headers.update(extra or {})
        with pytest.raises(AuthenticationError) as refused:
            client.request("POST", wire_path, body=body, content_type="image/jpeg", headers=headers, idempotent=False)
        return refused.value

    # When another body, another door's path, or an added claim header is sent with that signature
    tampered_body = send(signed_body[:-1] + bytes([signed_body[-1] ^ 1]), path)
    tampered_path = send(signed_body, f"/doors/{site.other_door_id}/verify")
    tampered_claim = send(signed_body, path, {"X-Facegate-Claim": "ABCD2345"})

    # Then each is refused as invalid_signature (401)
    for error in (tampered_body, tampered_path, tampered_claim):
        assert (error.status, error.code) == (401, "invalid_signature")


def test_client_errors_map_to_typed_exceptions(site: Site, face_cast: FaceCast) -> None:
    # Given a fresh invite, the site's terminal, and the admin
    invite = site.invite()
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    terminal = site.terminal_client()
    selfie = f"/register/{visitor.token}/selfie"

    # When the API is misused in each way it must refuse
    with pytest.raises(BadRequestError) as bad_zone:
        site.admin.create_site("Bad zone", "Mars/Olympus_Mons")
    with pytest.raises(BadRequestError) as corrupt:
        terminal.verify(face_cast.b_probe.read_bytes()[:700], site.door_id)
    with pytest.raises(PermissionDeniedError) as other_door:
        terminal.verify(grey_jpeg(), site.other_door_id)
    with pytest.raises(NotFoundError) as unknown_terminal:
        site.admin.revoke_terminal("term_doesnotexist000")
    with pytest.raises(ConflictError) as before_consent:
        visitor.enroll(list(face_cast.a_enroll))
    with pytest.raises(ConflictError) as wrong_version:
        visitor.consent("1999-01-01.1")
    visitor.consent()
    with pytest.raises(PayloadTooLargeError) as too_large:
        visitor.enroll([noise_png(1000, 1), noise_png(1000, 2)])
    with pytest.raises(UnsupportedMediaTypeError) as wrong_type:
        visitor.request("POST", selfie, body=b"hello", content_type="text/plain", idempotent=True)
    with pytest.raises(FaceQualityError) as no_face:
        visitor.enroll(grey_jpeg())
    site.admin.erase_invite(invite.invite_id)
    with pytest.raises(GoneError) as erased:
        visitor.notice()

    # Then each carries its HTTP status and stable code
    seen = {
        "bad zone": (bad_zone.value.status, bad_zone.value.code),
        "corrupt": (corrupt.value.status, corrupt.value.code),
        "other door": (other_door.value.status, other_door.value.code),
        "unknown terminal": (unknown_terminal.value.status, unknown_terminal.value.code),
        "before consent": (before_consent.value.status, before_consent.value.code),
        "wrong version": (wrong_version.value.status, wrong_version.value.code),
        "too large": (too_large.value.status, too_large.value.code),
        "wrong type": (wrong_type.value.status, wrong_type.value.code),
        "no face": (no_face.value.status, no_face.value.code),
        "erased": (erased.value.status, erased.value.code),
    }
    assert seen == {
        "bad zone": (400, "invalid_request"),
        "corrupt": (400, "corrupt_image"),
        "other door": (403, "door_not_allowed"),
        "unknown terminal": (404, "not_found"),
        "before consent": (409, "consent_required"),
        "wrong version": (409, "consent_version_mismatch"),
        "too large": (413, "payload_too_large"),
        "wrong type": (415, "unsupported_media_type"),
        "no face": (422, "no_face"),
        "erased": (410, "invite_revoked"),
    }


def test_repeated_denies_cool_the_terminal_down_but_the_claim_code_still_opens(site: Site, face_cast: FaceCast) -> None:
    # Given a site where A is enrolled, and a terminal that counts its attempts
    _, _, claim_code = enrolled_visitor(site, list(face_cast.a_enroll))
    transport = CountingTransport()
    sleeps: list[float] = []
    terminal = site.terminal_client(transport=transport, sleep=sleeps.append)

    # When stranger B tries five times, then A comes by face alone, then with the claim code
    decisions = [terminal.verify(face_cast.b_probe, site.door_id) for _ in range(5)]
    face_only = terminal.verify(face_cast.a_probe, site.door_id)
    claimed = terminal.verify(face_cast.a_probe, site.door_id, claim=claim_code)

    # Then five denies were answered; during the cool-down A's face alone is asked for the code (issue 15
    # item 10: no 429), and A's face with the code opens the door
    assert [(d.decision, d.next) for d in decisions] == [("deny", "show_code")] * 5
    assert (face_only.decision, face_only.next) == ("deny", "show_code")
    assert claimed.granted
    # And the SDK did not retry any verify (seven requests, no backoff sleeps)
    assert len(transport.requests) == 7 and sleeps == []


# --- retries ------------------------------------------------------------------------------------


def test_idempotent_calls_are_retried_through_injected_503s(
    live_stack: dict[str, Any], site: Site, flaky_proxy: Callable[[int], FlakyProxy], face_cast: FaceCast
) -> None:
    # Given a proxy in front of the stack that fails the first two requests with 503 (Retry-After: 1)
    invite = site.invite()
    VisitorClient(invite.registration_url, **STACK_CLIENT).consent()
    proxy = flaky_proxy(2)
    link = invite.registration_url.replace(live_stack["api_url"], proxy.url)
    sleeps: list[float] = []
    visitor = VisitorClient(link, sleep=sleeps.append, **STACK_CLIENT)

    # When the visitor enrolls (a POST carrying an Idempotency-Key) through it
    enrollment = visitor.enroll(list(face_cast.a_enroll))

    # Then the SDK made three attempts with the same key, waiting Retry-After between them
    assert enrollment.status == "enrolled"
    assert [seen["path"] for seen in proxy.seen] == [f"/register/{invite.token}/selfie"] * 3
    keys = {seen["idempotency-key"] for seen in proxy.seen}
    assert len(keys) == 1 and keys != {""}
    assert sleeps == [1.0, 1.0]

    # When a GET meets two more 503s
    proxy.failures = len(proxy.seen) + 2
    status = visitor.status()

    # Then it is retried too
    assert status.status == "enrolled"
    assert len(proxy.seen) == 6 and len(sleeps) == 4


def test_non_idempotent_calls_are_not_retried_and_retries_end(
    live_stack: dict[str, Any], site: Site, flaky_proxy: Callable[[int], FlakyProxy]
) -> None:
    # Given a proxy that fails everything with 503
    proxy = flaky_proxy(1_000)
    sleeps: list[float] = []
    admin = AdminClient(proxy.url, live_stack["admin"]["token"], sleep=sleeps.append, retries=3, **STACK_CLIENT)
    terminal = TerminalClient(
        proxy.url, site.terminal.key_id, site.terminal.secret, sleep=sleeps.append, **STACK_CLIENT
    )

    # When a creation (POST), a verify and an erase (DELETE) are attempted
    with pytest.raises(ServiceUnavailableError) as create:
        admin.create_site("never", "UTC")
    after_create = len(proxy.seen)
    with pytest.raises(ServiceUnavailableError) as verify:
        terminal.verify(grey_jpeg(), site.door_id)
    after_verify = len(proxy.seen)
    with pytest.raises(ServiceUnavailableError) as erase:
        admin.erase_invite("inv_whatever0000")

    # Then the POST and the verify were sent once; the DELETE 1 + 3 retries times, then gave up
    assert (after_create, after_verify - after_create, len(proxy.seen) - after_verify) == (1, 1, 4)
    assert sleeps == [1.0, 1.0, 1.0]
    for error in (create, verify, erase):
        assert (error.value.status, error.value.code, error.value.retry_after) == (503, "service_unavailable", 1.0)


def test_verify_is_retried_only_when_nothing_was_sent(site: Site) -> None:
    # Given a terminal pointed at a port where nothing listens
    from facegate_tools.local.emulators import free_port

    transport = CountingTransport()
    sleeps: list[float] = []
    dead = f"http://127.0.0.1:{free_port()}"
    terminal = TerminalClient(
        dead,
        site.terminal.key_id,
        site.terminal.secret,
        transport=transport,
        sleep=sleeps.append,
        retries=2,
        **STACK_CLIENT,
    )

    # When it verifies
    with pytest.raises(TransportError) as refused:
        terminal.verify(grey_jpeg(), site.door_id)

    # Then each of the 3 attempts was signed afresh (a new nonce), and the error says nothing was sent
    assert refused.value.code == "connection_failed" and refused.value.sent is False
    nonces = [request.headers["X-Facegate-Nonce"] for request in transport.requests]
    assert len(nonces) == 3 and len(set(nonces)) == 3 and len(sleeps) == 2


# --- the local gateway under concurrency ----------------------------------------------------------


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_concurrent_requests_keep_their_own_event(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the real door handler behind the real local gateway (in-process, in-memory services),
    # where the first request is held for a moment after Powertools took its event
    from facegate.api.deps import provide_services
    from facegate.runtime import build_services
    from facegate.settings import Settings
    from facegate_tools.local.gateway import LocalGateway, Route, start_http
    from facegate_tools.local.stack import LOCAL_ENVIRONMENT, load_handler

    for key, value in LOCAL_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    module = load_handler(Path(__file__).resolve().parents[2] / "functions" / "verify_at_door" / "app.py")
    services = build_services(Settings(), backend="memory")
    first_inside = threading.Event()

    def held_services() -> Any:
        if not first_inside.is_set():
            first_inside.set()
            time.sleep(0.5)  # the second request arrives while the first is inside the handler
        return services

    module.resolver.dependency_overrides[provide_services] = held_services
    gateway = LocalGateway([Route("POST", "/doors/{door_id}/verify", module.lambda_handler, "none", "Verify")], None)
    server, _ = start_http(gateway, "127.0.0.1", 0)
    api_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # When an unsigned request and a request with a stale timestamp arrive together
        unsigned: dict[str, BaseException] = {}

        def send_unsigned() -> None:
            client = TerminalClient(api_url, "key_a", "secret-a", retries=0, **STACK_CLIENT)
            try:
                client.request("POST", "/doors/door_a/verify", body=b"a", content_type="image/jpeg", idempotent=False)
            except AuthenticationError as exc:
                unsigned["error"] = exc

        worker = threading.Thread(target=send_unsigned)
        worker.start()
        assert first_inside.wait(10)
        stale = TerminalClient(api_url, "key_b", "secret-b", retries=0, **STACK_CLIENT)
        path = "/doors/door_b/verify"
        headers = signature_headers("key_b", "secret-b", "POST", path, b"b", timestamp=int(time.time()) - 3600)
        with pytest.raises(AuthenticationError) as skewed:
            stale.request("POST", path, body=b"b", content_type="image/jpeg", headers=headers, idempotent=False)
        worker.join(10)
    finally:
        server.shutdown()
        server.server_close()

    # Then each request is answered from its own headers
    assert skewed.value.code == "clock_skew"
    assert unsigned["error"].code == "missing_signature"

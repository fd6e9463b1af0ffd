"""Terminal request signatures against the real door handler, moto and the real face engine.

Every way to reuse, shift, alter or forge a signed request is refused with the code docs/api.md lists;
a revoked key is refused on the very next request, also by a warm instance whose caches hold its secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from security_support import (
    GENUINE,
    TEST_SETTINGS,
    FakeClock,
    Harness,
    MotoWorld,
    Terminal,
    aws_services,
    create_stores,
    drop_tables,
    lfw_images,
    moto_world,
    real_engine,
    recorded_calls,
)

from facegate.adapters import memory
from facegate.adapters.dynamodb import AwsClients
from facegate.security.tokens import decode_key, read_unlock_token
from facegate_tools.local.inprocess import ApiResponse

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

VERIFY_FUNCTION = "VerifyAtDoorFunction"


@dataclass
class Door(MotoWorld):
    """Site A with doors 1 and 2 bound to ``terminal``, door 3 bound to none, an enrolled visitor."""

    site: str
    door1: str
    door2: str
    door3: str
    terminal: Terminal
    other: Terminal
    frame: bytes
    claim_code: str
    unlock_keys: dict[str, bytes]

    def path(self, door_id: str | None = None) -> str:
        return f"/doors/{door_id or self.door1}/verify"

    def send(self, headers: dict[str, str], body: bytes | None = None, door_id: str | None = None) -> ApiResponse:
        return self.h.call("POST", self.path(door_id), body=self.frame if body is None else body, headers=headers)

    def headers(self, **kw: Any) -> dict[str, str]:
        kw.setdefault("terminal", self.terminal)
        terminal = kw.pop("terminal")
        path = kw.pop("path", self.path())
        body = kw.pop("body", self.frame)
        return self.h.signed_headers(terminal, path, body, **kw)


@pytest.fixture(scope="module")
def door(lfw_dev_dir: Path) -> Iterator[Door]:
    engine = real_engine()
    images = lfw_images(lfw_dev_dir, GENUINE)
    with moto_world(engine) as world:
        h = world.h
        site = h.create_site()
        created = [h.create_door(site, f"Gate {i}") for i in range(3)]
        doors = [door["door_id"] for door in created]
        keys = {door["door_id"]: decode_key(door["unlock_key"]) for door in created}
        terminal = h.create_terminal(site, doors[:2])
        other = h.create_terminal(site, doors[:1])
        _, claim = h.enrolled_visitor(site, doors[:2], images[:3])
        yield Door(
            world.h, world.clock, world.clients, world.settings, site, *doors, terminal, other, images[3], claim, keys
        )


def expect(response: ApiResponse, status: int, code: str | None = None) -> None:
    assert response.status == status, response.body[:300]
    if code is not None:
        assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
    else:
        assert response.json()["decision"] == "grant", response.body


def test_a_correctly_signed_request_is_granted_with_a_short_lived_unlock_token(door: Door) -> None:
    # Given a terminal's correctly signed request with the enrolled visitor's face
    # When it is sent, Then the door opens (the control for every refusal below)
    response = door.send(door.headers())
    expect(response, 200)
    # And the unlock token checks offline at this door only, for at most 10 s
    token = response.json()["unlock_token"]
    now = door.clock()
    claims = read_unlock_token(token, door.unlock_keys[door.door1], door.door1, now)
    assert claims is not None and claims["sub"] == response.json()["decision_id"]
    assert claims["exp"] - claims["iat"] <= 10
    assert read_unlock_token(token, door.unlock_keys[door.door1], door.door2, now) is None
    assert read_unlock_token(token, door.unlock_keys[door.door2], door.door1, now) is None
    assert read_unlock_token(token, door.unlock_keys[door.door1], door.door1, now + timedelta(seconds=11)) is None


def test_a_replayed_request_is_refused(door: Door) -> None:
    # Given a signed request that was accepted
    headers = door.headers()
    expect(door.send(headers), 200)
    # When the very same request is sent again, now or 30 s later (still inside the skew window)
    replay = door.send(headers)
    door.clock.advance(30)
    later = door.send(headers)
    # Then both replays are refused as a reused nonce
    expect(replay, 401, "nonce_reused")
    expect(later, 401, "nonce_reused")


def test_a_nonce_is_spent_only_by_a_valid_signature(door: Door) -> None:
    # Given an attacker who saw a nonce go by and sends it first, with a signature they cannot compute
    nonce = secrets.token_urlsafe(18)
    forged = door.headers(nonce=nonce)
    forged["x-facegate-signature"] = "0" * 64
    expect(door.send(forged), 401, "invalid_signature")
    # When the terminal's genuine request with that nonce arrives, Then it is accepted (nothing was burnt)
    expect(door.send(door.headers(nonce=nonce)), 200)


def test_nonces_are_scoped_per_terminal_key(door: Door) -> None:
    # Given two terminals that happen to choose the same nonce
    nonce = "shared-nonce-" + secrets.token_hex(8)
    # When both send a request with it, Then both are accepted (one key's nonces do not block another's)
    expect(door.send(door.headers(nonce=nonce)), 200)
    expect(door.send(door.headers(nonce=nonce, terminal=door.other)), 200)


@pytest.mark.parametrize("skew", [-61, 61, -3600, 3600, -(10**9)])
def test_a_timestamp_more_than_60_seconds_away_is_refused(door: Door, skew: int) -> None:
    # Given a request signed with a timestamp `skew` seconds away from server time
    headers = door.headers(timestamp=max(0, int(door.clock().timestamp()) + skew))
    # When it is sent, Then it is refused as clock skew
    expect(door.send(headers), 401, "clock_skew")


@pytest.mark.parametrize("skew", [-60, -59, 59, 60])
def test_a_timestamp_within_60_seconds_is_accepted(door: Door, skew: int) -> None:
    # Given a terminal whose clock is `skew` seconds off
    headers = door.headers(timestamp=int(door.clock().timestamp()) + skew)
    # When it sends a request, Then it is accepted
    expect(door.send(headers), 200)


def _with(headers: dict[str, str], **changes: str) -> dict[str, str]:
    return {**headers, **{name.replace("_", "-"): value for name, value in changes.items()}}


TAMPERING: dict[str, Callable[[Door], tuple[dict[str, str], bytes | None, str | None]]] = {
    # (headers, body or None for the signed frame, door id or None for door 1)
    "one body byte flipped": lambda d: (d.headers(), d.frame[:-3] + bytes([d.frame[-3] ^ 1]) + d.frame[-2:], None),
    "body swapped": lambda d: (d.headers(), d.frame + b"\x00", None),
    "path: sent to another door of the terminal": lambda d: (d.headers(), None, d.door2),
    "timestamp changed by one second": lambda d: (
        _with(d.headers(), x_facegate_timestamp=str(int(d.clock().timestamp()) + 1)),
        None,
        None,
    ),
    "nonce changed": lambda d: (_with(d.headers(), x_facegate_nonce=secrets.token_urlsafe(18)), None, None),
    "claim header added after signing": lambda d: (_with(d.headers(), x_facegate_claim=d.claim_code), None, None),
    "claim header changed": lambda d: (_with(d.headers(claim=d.claim_code), x_facegate_claim="ZZZZZZZZ"), None, None),
    "claim header removed": lambda d: (
        {k: v for k, v in d.headers(claim=d.claim_code).items() if k != "x-facegate-claim"},
        None,
        None,
    ),
    "key id of another terminal": lambda d: (_with(d.headers(), x_facegate_key_id=d.other.key_id), None, None),
    "signed with another terminal's secret": lambda d: (
        _with(d.headers(terminal=d.other), x_facegate_key_id=d.terminal.key_id),
        None,
        None,
    ),
    "signature truncated": lambda d: (
        _with(d.headers(), x_facegate_signature=d.headers()["x-facegate-signature"][:32]),
        None,
        None,
    ),
    "signature of an empty body": lambda d: (d.headers(body=b""), None, None),
    "method changed in the signature": lambda d: (d.headers(method="GET"), None, None),
}


@pytest.mark.parametrize("change", TAMPERING)
def test_a_tampered_request_is_refused(door: Door, change: str) -> None:
    # Given a request altered after signing (or signed over something else than what is sent)
    headers, body, door_id = TAMPERING[change](door)
    # When it is sent, Then the signature does not match
    expect(door.send(headers, body, door_id), 401, "invalid_signature")


def test_a_correct_signature_for_a_door_the_terminal_is_not_bound_to_is_forbidden(door: Door) -> None:
    # Given a terminal bound to doors 1 and 2 that correctly signs a request for door 3 of its own site
    headers = door.headers(path=door.path(door.door3))
    # When it is sent, Then the door binding refuses it
    expect(door.send(headers, door_id=door.door3), 403, "door_not_allowed")


MALFORMED: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "no key id": lambda h: {k: v for k, v in h.items() if k != "x-facegate-key-id"},
    "no timestamp": lambda h: {k: v for k, v in h.items() if k != "x-facegate-timestamp"},
    "no nonce": lambda h: {k: v for k, v in h.items() if k != "x-facegate-nonce"},
    "no signature": lambda h: {k: v for k, v in h.items() if k != "x-facegate-signature"},
    "empty signature": lambda h: {**h, "x-facegate-signature": ""},
    "fractional timestamp": lambda h: {**h, "x-facegate-timestamp": h["x-facegate-timestamp"] + ".5"},
    "negative timestamp": lambda h: {**h, "x-facegate-timestamp": "-" + h["x-facegate-timestamp"]},
    "exponent timestamp": lambda h: {**h, "x-facegate-timestamp": "1.8e9"},
    "13-digit timestamp": lambda h: {**h, "x-facegate-timestamp": "1" * 13},
    "millisecond timestamp": lambda h: {**h, "x-facegate-timestamp": h["x-facegate-timestamp"] + "000"},
    "nonce of 15 characters": lambda h: {**h, "x-facegate-nonce": "n" * 15},
    "nonce of 129 characters": lambda h: {**h, "x-facegate-nonce": "n" * 129},
}


@pytest.mark.parametrize("change", MALFORMED)
def test_missing_or_malformed_signature_headers_are_refused(door: Door, change: str) -> None:
    # Given a signed request with one header missing or malformed
    headers = MALFORMED[change](door.headers())
    # When it is sent, Then it is refused before any lookup, as a missing signature
    expect(door.send(headers), 401, "missing_signature")


@pytest.mark.parametrize("timestamp", ["²", "¹⁷⁰⁰⁰⁰⁰⁰⁰⁰", "①"], ids=["superscript-two", "superscripts", "circled-one"])
def test_a_timestamp_of_non_ascii_digits_is_refused_as_malformed(door: Door, timestamp: str) -> None:
    # Given a timestamp header made of characters that str.isdigit() calls digits (latin-1 '²' is a
    # byte an HTTP client can send)
    headers = {**door.headers(), "x-facegate-timestamp": timestamp}
    # When it is sent, Then it is a 401 missing_signature like any malformed timestamp, never a 500
    expect(door.send(headers), 401, "missing_signature")


def test_an_unknown_key_is_refused(door: Door) -> None:
    # Given a well-formed request under a key id that was never issued
    stranger = Terminal("term_x", "key_" + "x" * 20, secrets.token_urlsafe(32), door.site, [door.door1])
    # When it is sent, Then it is refused as an unknown key
    expect(door.send(door.headers(terminal=stranger)), 401, "unknown_key")


def test_a_revoked_key_is_refused_on_the_next_request_also_by_a_warm_instance(door: Door) -> None:
    # Given a new terminal whose requests are served by a warm door instance of its own (own Services:
    # its key cache holds the terminal's secret after the first request)
    h = door.h
    terminal = h.create_terminal(door.site, [door.door1])
    door.serve(VERIFY_FUNCTION)
    warm = h.services[VERIFY_FUNCTION]
    try:
        expect(door.send(door.headers(terminal=terminal)), 200)
        with recorded_calls(door.clients.kms) as kms_calls:
            expect(door.send(door.headers(terminal=terminal)), 200)
        assert kms_calls == [], "the second request must be served from the warm key cache"
        # When an admin revokes the terminal (through the admin function, another instance)
        revoked = h.admin("DELETE", f"/terminals/{terminal.terminal_id}")
        assert revoked.status == 200 and revoked.json()["revoked_at"]
        # Then the warm instance refuses the very next request, and every one after
        expect(door.send(door.headers(terminal=terminal)), 401, "key_revoked")
        expect(door.send(door.headers(terminal=terminal)), 401, "key_revoked")
        assert h.services[VERIFY_FUNCTION] is warm
        # And a correct signature does not help, nor does revoking twice bring it back
        assert h.admin("DELETE", f"/terminals/{terminal.terminal_id}").status == 200
        expect(door.send(door.headers(terminal=terminal)), 401, "key_revoked")
        # And the replacement terminal of that door works on the same warm instance
        replacement = h.create_terminal(door.site, [door.door1])
        expect(door.send(door.headers(terminal=replacement)), 200)
        # And the revocation is in the audit trail with the admin who made it
        audit = h.admin("GET", f"/sites/{door.site}/audit", query="limit=500").json()["items"]
        revocations = [
            i for i in audit if i["event"] == "terminal_revoked" and i["terminal_id"] == terminal.terminal_id
        ]
        assert [i["actor"] for i in revocations] == ["admin-1", "admin-1"]  # revoked twice above, both recorded
    finally:
        h.services.pop(VERIFY_FUNCTION, None)


def test_revocation_is_refused_before_the_signature_is_checked(door: Door) -> None:
    # Given a revoked terminal
    h = door.h
    terminal = h.create_terminal(door.site, [door.door1])
    assert h.admin("DELETE", f"/terminals/{terminal.terminal_id}").status == 200
    # When anyone sends a request under its key id, with or without its secret
    forged = {**door.headers(terminal=terminal), "x-facegate-signature": "f" * 64}
    # Then the answer is key_revoked either way (no oracle on the signature of a dead key)
    expect(door.send(door.headers(terminal=terminal)), 401, "key_revoked")
    expect(door.send(forged), 401, "key_revoked")


@pytest.mark.dynamodb_local
def test_an_oversized_key_id_is_refused_not_a_server_error(dynamodb_local: str, aws_env: None) -> None:
    # Given the door handler over DynamoDB Local (which enforces DynamoDB's key size limits; moto does not)
    engine = real_engine()
    base = TEST_SETTINGS.with_overrides(dynamodb_endpoint_url=dynamodb_local)
    clients = AwsClients.from_settings(base)
    settings = create_stores(clients, base)
    clock = FakeClock()
    services = aws_services(clients, settings, lambda: engine, clock, keys=memory.MemoryKeyService())
    h = Harness(default=services, clock=clock)
    try:
        site = h.create_site()
        door_id = h.create_door(site)["door_id"]
        terminal = h.create_terminal(site, [door_id])
        path = f"/doors/{door_id}/verify"
        statuses = {}
        for length in (64, 2100, 4000):
            # When a request arrives with a key id of `length` characters (HTTP APIs accept 10 KB of headers)
            headers = {**h.signed_headers(terminal, path, b"frame"), "x-facegate-key-id": "k" * length}
            response = h.call("POST", path, body=b"frame", headers=headers)
            statuses[length] = (response.status, response.error_code)
        # Then each is refused like any unknown or malformed key, never a 500
        assert all(
            status == 401 and code in {"unknown_key", "missing_signature"} for status, code in statuses.values()
        ), statuses
    finally:
        h.close()
        drop_tables(clients, settings)

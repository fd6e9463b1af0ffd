"""Issue 12 through the deployed shape: the real Lambda handlers behind the local gateway, DynamoDB and KMS
on moto, an in-memory face engine (every attack here is refused before any face work). Each test is named
after the attack it replays."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from security_support import MotoWorld, Terminal, moto_world, scan_table

from facegate.adapters import memory

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

SELFIE = b"\xff\xd8\xff\xe0" + b"a selfie the in-memory engine knows"


@dataclass
class World(MotoWorld):
    site: str
    door: str
    other_door: str
    terminal: Terminal
    token: str
    invite_id: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    engine = memory.MemoryFaceEngine()
    engine.register(SELFIE, [1.0] + [0.0] * 127)
    with moto_world(engine) as base:
        h = base.h
        site = h.create_site()
        door = h.create_door(site)["door_id"]
        other_door = h.create_door(site, "Back door")["door_id"]
        terminal = h.create_terminal(site, [door])
        invite = h.invite(site, [door], hours=24)
        yield World(
            **vars(base),
            site=site,
            door=door,
            other_door=other_door,
            terminal=terminal,
            token=invite["token"],
            invite_id=invite["invite_id"],
        )


def _hostile_multipart(parts: int) -> tuple[bytes, str]:
    chunk = b'--b\r\nContent-Disposition: form-data; name="image"\r\n\r\n\r\n'
    return chunk * parts + b"--b--\r\n", "multipart/form-data; boundary=b"


def test_multipart_flood_to_random_tokens_is_refused_unparsed_and_counted_as_guessing(world: World) -> None:
    # Given the 87,500-part body and one source sending it to random tokens
    body, content_type = _hostile_multipart(87_500)
    source = "192.0.2.150"
    world.h.clock.set_second_of_minute(0)
    answers = [
        world.h.call(
            "POST",
            f"/register/{secrets.token_urlsafe(32)}/selfie",
            body=body,
            headers={"content-type": content_type},
            source_ip=source,
        )
        for _ in range(21)
    ]
    # Then the first 20 are 401 invalid_token (the token, not the body, is judged) and the 21st is throttled
    assert [a.error_code for a in answers[:20]] == ["invalid_token"] * 20
    assert (answers[20].status, answers[20].error_code) == (429, "rate_limited")
    # And a visitor with a valid link behind the same address is still served
    status = world.h.call("GET", f"/register/{world.token}/status", source_ip=source)
    assert status.status == 200, status.body


def test_deeply_nested_or_huge_number_json_to_every_json_route_is_a_4xx(world: World) -> None:
    # Given every route with a JSON body, with a valid credential
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/sites", {"bearer": world.h.admin_token()}),
        ("PATCH", f"/sites/{world.site}", {"bearer": world.h.admin_token()}),
        ("POST", f"/sites/{world.site}/doors", {"bearer": world.h.admin_token()}),
        ("POST", f"/sites/{world.site}/terminals", {"bearer": world.h.admin_token()}),
        ("POST", f"/sites/{world.site}/invites", {"bearer": world.h.admin_token()}),
        ("POST", f"/register/{world.token}/consent", {}),
    ]
    hostile = [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", {(413, "payload_too_large")}),
        (b"{" + b'"a":{' * 2000 + b"}" * 2001, "application/json", {(400, "json_too_deep")}),
        (b'{"name": ' + b"9" * 5000 + b"}", "application/json", {(400, "number_too_long")}),
        (b'{"name": "x"}', "text/plain", {(415, "unsupported_media_type")}),
    ]
    for method, path, credential in routes:
        for raw, content_type, expected in hostile:
            # When posted through the gateway
            response = world.h.call(method, path, body=raw, headers={"content-type": content_type}, **credential)
            # Then it is the documented 4xx, never a 500
            assert (response.status, response.error_code) in expected, (method, path, response.body[:200])


def test_forged_and_misdirected_door_requests_are_in_the_audit_log(world: World) -> None:
    # Given a forged request (known key id, wrong signature) and a correctly signed one for another door
    path = f"/doors/{world.door}/verify"
    forged = world.h.signed_headers(world.terminal, path, SELFIE)
    forged["x-facegate-signature"] = "f" * 64
    assert world.h.call("POST", path, body=SELFIE, headers=forged).error_code == "invalid_signature"
    wrong_door = world.h.verify(world.terminal, world.other_door, SELFIE)
    assert (wrong_door.status, wrong_door.error_code) == (403, "door_not_allowed")
    # When the admin reads the site's audit log through the API
    page = world.h.admin("GET", f"/sites/{world.site}/audit")
    assert page.status == 200, page.body
    refused = [item for item in page.json()["items"] if item["event"] == "refused"]
    # Then both refusals are there, attributed to the terminal, without signature or nonce
    assert sorted((r["reason"], r["door_id"], r["details"]["authenticated"]) for r in refused) == [
        ("door_not_allowed", world.other_door, "yes"),
        ("invalid_signature", world.door, "no"),
    ]
    assert {r["terminal_id"] for r in refused} == {world.terminal.terminal_id}
    rows = repr(scan_table(world.clients.dynamodb, world.settings.audit_table))
    assert forged["x-facegate-nonce"] not in rows and forged["x-facegate-signature"] not in rows


def test_host_of_another_site_cannot_tell_an_invite_from_an_unknown_id(world: World) -> None:
    # Given a host of another site
    other = world.h.create_site("Elsewhere")
    host = world.h.host_token([other])
    # When they erase this site's invite, and an id that does not exist
    foreign = world.h.call("DELETE", f"/invites/{world.invite_id}", bearer=host)
    unknown = world.h.call("DELETE", "/invites/inv_nothing_here", bearer=host)
    # Then the answers are identical
    assert (foreign.status, foreign.body) == (unknown.status, unknown.body)
    assert foreign.status == 404

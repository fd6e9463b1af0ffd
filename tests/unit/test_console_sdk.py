"""The SDK's and the CLI's console calls (issue 14) against the real route handlers, in-process.

A small HTTP server on a loopback port hands each request to the API (in-memory adapters, in-memory face
engine, in-memory user directory); it plays API Gateway's JWT authorizer by mapping the bearer token to
claims (``admin``, or ``host:<site_id>``), so the SDK and the CLI run unchanged over real HTTP.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

import facegate_client as fc
from facegate.adapters import memory
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.usecases.context import Services
from facegate_client import cli
from helpers import local_http_server

ADMIN_TOKEN = "admin"


def tiny_jpeg(seed: int) -> bytes:
    """A small, valid JPEG (the SDK sends such files untouched; the in-memory engine maps them to faces)."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


PHOTOS = [tiny_jpeg(seed) for seed in range(4)]
"""Three selfies and a door frame of one person."""


def claims_of(authorization: str | None) -> dict[str, str] | None:
    """What the JWT authorizer would pass on for the test's bearer tokens (None: no or unknown token)."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    if token == ADMIN_TOKEN:
        return {"sub": "admin-1", "cognito:groups": "[admins]", "email": "ada@example.com", "name": "Ada"}
    if token.startswith("host:"):
        return {"sub": "host-1", "cognito:groups": "[hosts]", "custom:site_ids": token[5:]}
    return None


@pytest.fixture
def served(
    memory_services: Callable[..., Services], clock: Any, make_stack: Callable[[Services], Any]
) -> Iterator[tuple[str, Any]]:
    engine = memory.MemoryFaceEngine()
    rng = np.random.default_rng(3)
    face = rng.normal(size=128)
    for photo in PHOTOS:
        engine.register(photo, (face + 0.05 * rng.normal(size=128)).astype(np.float32))
    services = memory_services(
        engine, clock, DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03)))
    )
    services.directory = memory.MemoryDirectory(clock)
    stack = make_stack(services)

    def serve(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        split = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() != "authorization"}
        answer = stack.api.request(
            handler.command,
            split.path,
            body=body,
            headers=headers,
            query=split.query,
            claims=claims_of(handler.headers.get("Authorization")),
        )
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)

    with local_http_server(serve) as url:
        yield url, stack


def test_the_sdk_runs_the_console_flow(served: tuple[str, Any]) -> None:
    url, stack = served
    admin = fc.AdminClient(url, ADMIN_TOKEN, retries=0)
    # Given a site, a door and a terminal made through the SDK
    site = admin.create_site("HQ", "Asia/Seoul")
    door = admin.create_door(site.site_id, "Gate")
    terminal = admin.create_terminal(site.site_id, "Lobby kiosk", [door.door_id])
    assert admin.me().role == "admin" and admin.me().site_ids is None
    assert [s.site_id for s in admin.sites()] == [site.site_id] and admin.get_site(site.site_id).retired_at is None
    assert [d.name for d in admin.doors(site.site_id)] == ["Gate"]
    # When a host invites a visitor who enrolls
    host = fc.AdminClient(url, f"host:{site.site_id}", retries=0)
    now = stack.clock()
    invite = host.create_invite(site.site_id, [door.door_id], now - timedelta(minutes=1), now + timedelta(hours=4))
    stack.site_id, stack.door_id = site.site_id, door.door_id
    assert stack.consent(invite.token).status == 201
    assert stack.enroll(invite.token, PHOTOS[:3]).status == 201
    # And an admin pairs a kiosk by the code's URL (what the QR code holds)
    pairing = admin.create_pairing(site.site_id, terminal.terminal_id)
    assert pairing.pairing_code not in repr(pairing)
    paired = fc.pair_kiosk(url, pairing.pairing_url.replace("https://", "http://"), retries=0)
    assert paired.terminal_id == terminal.terminal_id and paired.secret not in repr(paired)
    with pytest.raises(fc.NotFoundError) as reused:
        fc.pair_kiosk(url, pairing.pairing_code, retries=0)
    assert reused.value.code == "pairing_code_invalid"
    # And the visitor is granted at that kiosk
    kiosk = fc.TerminalClient(url, paired.key_id, paired.secret, retries=0)
    assert kiosk.verify([PHOTOS[3]], door.door_id).granted
    # Then the host's list shows the visitor arrived, and the invite's link can be shown again
    arrived = list(host.invites(site.site_id, status="arrived"))
    assert [i.invite_id for i in arrived] == [invite.invite_id] and arrived[0].arrived_at is not None
    assert host.get_invite(invite.invite_id).registration_url == invite.registration_url
    # And the admin's audit view shows the grant, with the kiosk's name, and exports it as CSV
    grants = list(admin.audit(site.site_id, decision="grant"))
    assert [(g.event, g.actor_name) for g in grants] == [("verify", "Lobby kiosk")]
    rows = list(csv.DictReader(io.StringIO(admin.audit_csv(site.site_id, decision="grant"))))
    assert [(r["event"], r["decision"], r["actor_name"]) for r in rows] == [("verify", "grant", "Lobby kiosk")]
    # And the terminal list shows the pairing; a rotation ends the paired key
    assert [t.paired_at is not None for t in admin.terminals(site.site_id)] == [True]
    rotated = admin.rotate_terminal(site.site_id, terminal.terminal_id)
    assert rotated.key_id != paired.key_id
    with pytest.raises(fc.AuthenticationError):
        kiosk.verify([PHOTOS[3]], door.door_id)
    # And doors and sites retire
    assert admin.retire_door(site.site_id, door.door_id).retired_at is not None
    assert admin.retire_site(site.site_id).retired_at is not None


def test_the_sdk_manages_hosts_and_keeps_their_password_out_of_repr(served: tuple[str, Any]) -> None:
    url, _ = served
    admin = fc.AdminClient(url, ADMIN_TOKEN, retries=0)
    site = admin.create_site("HQ", "Asia/Seoul")
    # When a host is created, listed and disabled
    new = admin.create_host("hana@example.com", "Hana", [site.site_id])
    assert new.temporary_password not in repr(new) and len(new.temporary_password) >= 12
    assert [(h.email, h.enabled) for h in admin.hosts()] == [("hana@example.com", True)]
    assert admin.disable_host(new.username).enabled is False
    # Then a duplicate is a ConflictError with the stable code, and hosts cannot manage hosts
    with pytest.raises(fc.ConflictError) as twice:
        admin.create_host("hana@example.com", "Hana", [site.site_id])
    assert twice.value.code == "host_exists"
    with pytest.raises(fc.PermissionDeniedError):
        fc.AdminClient(url, f"host:{site.site_id}", retries=0).hosts_page()
    with pytest.raises(ValueError):
        admin.invites_page(site.site_id, status="gone")


def run(url: str, *argv: str, token: str = ADMIN_TOKEN) -> tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([*argv, "--api-url", url, "--token", token, "--retries", "0"], environ={}, stdout=out, stderr=err)
    text = out.getvalue() or err.getvalue()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


def test_the_cli_covers_sites_doors_terminals_invites_and_hosts(served: tuple[str, Any]) -> None:
    url, _ = served
    # Given a site, door and terminal made with the CLI
    code, site = run(url, "sites", "create", "HQ", "Asia/Seoul", "--security-level", "high")
    assert code == 0 and site["security_level"] == "high"
    sid = site["site_id"]
    _, door = run(url, "doors", "create", "Gate", "--site-id", sid)
    _, terminal = run(url, "terminals", "create", "Kiosk", "--site-id", sid, "--door-id", door["door_id"])
    # When they are listed and shown, Then the JSON has them (and never a terminal secret in a list)
    assert run(url, "sites", "list")[1]["count"] == 1
    assert run(url, "sites", "show", "--site-id", sid)[1]["name"] == "HQ"
    assert [d["door_id"] for d in run(url, "doors", "list", "--site-id", sid)[1]["items"]] == [door["door_id"]]
    listed = run(url, "terminals", "list", "--site-id", sid)[1]["items"]
    assert [t["terminal_id"] for t in listed] == [terminal["terminal_id"]] and "secret" not in listed[0]
    # And a pairing code pairs a kiosk once
    _, code_out = run(url, "terminals", "pair-code", terminal["terminal_id"], "--site-id", sid)
    assert run(url, "terminals", "pair", code_out["pairing_code"])[1]["terminal_id"] == terminal["terminal_id"]
    failed, error = run(url, "terminals", "pair", code_out["pairing_code"])
    assert failed == cli.EXIT_ERROR and error["error"]["code"] == "pairing_code_invalid"
    # And invites are created, listed with their status, shown and cancelled (a host of the site)
    host = f"host:{sid}"
    _, made = run(url, "invites", "create", "--site-id", sid, "--door-id", door["door_id"], token=host)
    _, page = run(url, "invites", "list", "--site-id", sid, "--status", "invited", token=host)
    assert [i["invite_id"] for i in page["items"]] == [made["invite_id"]]
    assert run(url, "invites", "show", made["invite_id"], token=host)[1]["status"] == "invited"
    assert run(url, "invites", "cancel", made["invite_id"], token=host)[0] == 0
    assert run(url, "invites", "show", made["invite_id"], token=host)[1]["status"] == "erased"
    # And hosts are created and disabled; /me says who asks; the audit prints CSV
    _, new = run(url, "hosts", "create", "bo@example.com", "Bo", "--site", sid)
    assert run(url, "hosts", "disable", new["username"])[1]["enabled"] is False
    assert run(url, "me", token=host)[1]["role"] == "host"
    code, text = run(url, "audit", "--site-id", sid, "--event", "invite", "--csv")
    assert code == 0 and text.splitlines()[0].startswith("at,event,actor,actor_name")
    # And retirement works from the CLI
    assert run(url, "doors", "retire", door["door_id"], "--site-id", sid)[1]["retired_at"] is not None
    assert run(url, "sites", "retire", "--site-id", sid)[1]["retired_at"] is not None

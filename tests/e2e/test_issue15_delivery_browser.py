"""Issue 15 delivery in a real Chromium against the local stack: a host signs in (the local OAuth endpoints),
invites a visitor with an e-mail; the local outbox has the invite mail; the visitor opens the link from that
mail, enrolls with the fake camera and is granted at the kiosk; the host's arrival mail is in the outbox; and
an EventBridge event for each door decision reached the emulator (moto's bus, routed by a rule to the local
event log).

Screenshots: ``test-artifacts/e2e/delivery-*.png``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from stack_client import STACK_CLIENT
from test_full_flow_browser import (
    Captured,
    door_camera,
    enroll_on_visitor_page,
    explain,
    kiosk_check,
    open_kiosk,
    selfie_camera,
)

from facegate_client import AdminClient, Invite

if TYPE_CHECKING:
    from conftest import FaceCast, NewPage, PageRecorder, Stage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WAIT_SECONDS = 20.0
FORBIDDEN_EVENT_KEYS = {"similarity", "threshold", "score", "reason", "unlock_token", "token", "template", "claim"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def host_id_token(state: dict[str, Any]) -> str:
    """Sign the seeded host in through the local stack's OAuth endpoints (authorization code + PKCE S256)."""
    api, client_id, console = state["api_url"], state["user_pool"]["client_id"], state["console"]["url"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    form = {
        "client_id": client_id,
        "redirect_uri": console,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "e2e",
        "username": state["host"]["username"],
        "password": state["host"]["password"],
    }
    request = urllib.request.Request(
        f"{api}/_local/oauth2/authorize", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
    assert redirect.value.code == 302, redirect.value.read()[:300]
    location = redirect.value.headers["location"]
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    token_form = {"grant_type": "authorization_code", "client_id": client_id, "code": code}
    token_form |= {"code_verifier": verifier, "redirect_uri": console}
    with urllib.request.urlopen(
        urllib.request.Request(f"{api}/_local/oauth2/token", data=urllib.parse.urlencode(token_form).encode()),
        timeout=30,
    ) as response:
        return str(json.load(response)["id_token"])


def local_json(state: dict[str, Any], path: str) -> Any:
    with urllib.request.urlopen(f"{state['api_url']}{path}", timeout=30) as response:
        return json.load(response)


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` until it returns something truthy (mail and events travel through a relay thread)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_SECONDS:.0f} s waiting for {what}")
        time.sleep(0.25)


def mails(state: dict[str, Any], to: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in local_json(state, "/_local/outbox")["items"] if m["to"] == to and m["kind"] == kind]


def open_outbox(new_page: NewPage, browser: Any, api_url: str, subject: str) -> tuple[PageRecorder, str]:
    """The local outbox page: wait until the mail is listed, return the registration link in it."""
    from playwright.sync_api import expect

    recorder = new_page(browser, "delivery-outbox", width=1024, height=900)
    page = recorder.page
    page.goto(f"{api_url}/_local/outbox.html")
    mail = page.locator("article.mail", has_text=subject).first
    expect(mail).to_be_visible()
    link = mail.frame_locator("iframe").locator("a").first
    expect(link).to_have_attribute("href", re.compile(re.escape(f"{api_url}/register/") + r"[A-Za-z0-9_-]{43}$"))
    href = str(link.get_attribute("href"))
    recorder.screenshot("1-outbox-invite")
    return recorder, href


@dataclass
class MailInvite:
    host: AdminClient
    host_email: str
    visitor_email: str
    invite: Invite


@pytest.fixture
def mail_invite(live_stack: dict[str, Any]) -> Iterator[MailInvite]:
    """The seeded host, signed in through the local OAuth endpoints, invites a visitor with an e-mail and asks
    to hear of the arrival; the invite is erased afterwards (the session's other tests share the door)."""
    state = live_stack
    host = AdminClient(state["api_url"], host_id_token(state), **STACK_CLIENT)
    visitor_email = f"visitor-{secrets.token_hex(4)}@example.com"
    invite = host.create_invite(
        state["site_id"],
        [state["door_id"]],
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4 * 3600)),
        display_name="Mail visitor",
        email=visitor_email,
        notify_on_arrival=True,
    )
    yield MailInvite(host, state["host"]["username"], visitor_email, invite)
    host.erase_invite(invite.invite_id)


def test_a_host_invites_by_email_the_visitor_enrolls_from_the_mail_and_the_host_hears_of_the_arrival(
    live_stack: dict[str, Any], mail_invite: MailInvite, face_cast: FaceCast, stage: Stage
) -> None:
    # Given the running local stack with its door and terminal, fake cameras from LFW dev photos (A's three
    # selfies in turn, another photo of A), and a host who invited a visitor with an e-mail and asked to hear of
    # the arrival (fixture: signed in through the local OAuth endpoints, the SDK's create_invite)
    state = live_stack
    api_url = state["api_url"]
    invite, visitor_email, host_email = mail_invite.invite, mail_invite.visitor_email, mail_invite.host_email
    captured = Captured()

    # Then the invite mail is in the local outbox: to the visitor, kind invite, with the invite's link
    assert invite.email_sent and invite.notify_on_arrival
    (invite_mail,) = wait_for("the invite mail", lambda: mails(state, visitor_email, "invite"))
    assert invite.registration_url in invite_mail["links"]
    assert invite_mail["sent_at"].endswith("Z")

    # When the visitor opens the link from that mail (the outbox page shows the mail as sent) and enrolls
    phone = selfie_camera(stage, face_cast)
    outbox, link = stage.open(open_outbox, phone, api_url, invite_mail["subject"])
    assert link == invite.registration_url
    enrolled = stage.open(enroll_on_visitor_page, phone, link, face_cast, captured)
    assert enrolled["view"] == "enrolled", f"enrollment refused: {enrolled['reason']}"
    # (the page gave the separate consent to the biometric data: the consent's audit record says so)
    audit = AdminClient(api_url, state["admin"]["token"], **STACK_CLIENT).audit(state["site_id"], max_items=500)
    (consent,) = [r for r in audit if r.event == "consent" and r.visitor_id == invite.invite_id]
    assert consent.raw["details"] == {"biometric_consent": "separate"}

    # And stands in front of the kiosk (showing the claim code if the door asks for it)
    door = door_camera(stage, face_cast.a_probe, "a-door")
    kiosk = stage.open(open_kiosk, door, api_url, state, "delivery-kiosk", captured)
    answers = [stage.run(kiosk_check, kiosk)]
    if answers[-1]["body"]["decision"] == "deny" and answers[-1]["body"]["next"] == "show_code":
        answers.append(stage.run(kiosk_check, kiosk, claim=enrolled["claim_code"]))
    stage.run(kiosk.screenshot, "2-kiosk-grant")

    # Then the door opens
    assert answers[-1]["body"]["decision"] == "grant", f"{answers[-1]['body']} — {explain(face_cast, captured)}"

    # And the host's arrival mail is in the outbox, naming the visitor, and never the visitor's link
    (arrival,) = wait_for("the arrival mail", lambda: mails(state, host_email, "arrival"))
    assert "Mail visitor" in arrival["html"] and invite.registration_url not in arrival["html"]

    # And an EventBridge event for each of these door decisions reached the emulator's bus: source facegate,
    # detail-type door.decision, the public decision only
    decision_ids = [answer["body"]["decision_id"] for answer in answers]

    def published() -> list[dict[str, Any]]:
        events = local_json(state, "/_local/events")["items"]
        found = [e for e in events if e.get("detail", {}).get("decision_id") in decision_ids]
        return found if len(found) == len(decision_ids) else []

    events = sorted(
        wait_for("the door events", published), key=lambda e: decision_ids.index(e["detail"]["decision_id"])
    )
    for event, answer in zip(events, answers, strict=True):
        assert (event["source"], event["detail-type"]) == ("facegate", "door.decision")
        detail = event["detail"]
        assert detail["decision"] == answer["body"]["decision"] and detail["door_id"] == state["door_id"]
        assert not FORBIDDEN_EVENT_KEYS & set(detail)
    assert (events[-1]["detail"]["invite_id"], events[-1]["detail"]["first_arrival"]) == (invite.invite_id, True)
    assert visitor_email not in json.dumps(events)

    # And every page loaded cleanly
    for recorder in (enrolled["recorder"], kiosk):
        assert recorder.errors == [], recorder.errors
    stage.run(outbox.page.reload)
    stage.run(outbox.screenshot, "3-outbox-arrival")

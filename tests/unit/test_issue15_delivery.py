"""Issue 15, delivery: the invite e-mail, its resend, door-decision events and the host's arrival notice.

In-process over the in-memory adapters (the Mailer and EventPublisher stand-ins record what was sent); the
same flows against moto's SES, EventBridge and DynamoDB are in tests/integration/test_issue15_delivery_aws.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from facegate.adapters import memory
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.usecases.context import Services
from facegate.usecases.delivery import DOOR_DECISION, notify_arrival

HOST_EMAIL = "host@example.com"
VISITOR_EMAIL = "visitor@example.com"
FORBIDDEN_EVENT_KEYS = {"similarity", "threshold", "score", "reason", "unlock_token", "token", "template", "claim"}


def _photo(seed: int, person: np.ndarray) -> np.ndarray:
    jitter = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return person / np.linalg.norm(person) + 0.15 * jitter / np.linalg.norm(jitter)


@pytest.fixture
def stack(clock: Any, make_stack: Callable[[Services], Any], memory_services: Callable[..., Services]) -> Any:
    """One site; person A's selfies a1-a3 and door frame a4; a stranger's frame b1; mail and events recorded."""
    engine = memory.MemoryFaceEngine()
    alice, bob = (np.random.default_rng(seed).normal(size=128).astype(np.float32) for seed in (1, 2))
    for i in range(1, 5):
        engine.register(f"a{i}".encode(), _photo(i, alice))
    engine.register(b"b1", _photo(10, bob))
    services = memory_services(
        engine, clock, DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03)))
    )
    services.mailer = memory.MemoryMailer()
    services.events = memory.MemoryEventPublisher()
    built = make_stack(services)
    built.create_site()
    return built


def host_claims(stack: Any, site_ids: list[str] | None = None, email: str | None = HOST_EMAIL) -> dict[str, str]:
    claims = {"sub": "host-1", "cognito:groups": "[hosts]", "custom:site_ids": ",".join(site_ids or [stack.site_id])}
    if email is not None:
        claims["email"] = email
    return claims


def invite_body(stack: Any, **extra: Any) -> dict[str, Any]:
    now = stack.clock()
    return {
        "door_ids": [stack.door_id],
        "valid_from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_name": "Kim Visitor",
        **extra,
    }


def create(stack: Any, claims: dict[str, str] | None = None, **extra: Any) -> Any:
    path = f"/sites/{stack.site_id}/invites"
    return stack.api.request("POST", path, json_body=invite_body(stack, **extra), claims=claims or host_claims(stack))


def mailer(stack: Any) -> memory.MemoryMailer:
    assert isinstance(stack.services.mailer, memory.MemoryMailer)
    return stack.services.mailer


def events(stack: Any) -> memory.MemoryEventPublisher:
    assert isinstance(stack.services.events, memory.MemoryEventPublisher)
    return stack.services.events


def test_an_invite_with_an_email_sends_the_link_in_korean_and_english(stack: Any) -> None:
    # Given a host who invites a visitor with an e-mail address
    # When the invite is created
    response = create(stack, email=VISITOR_EMAIL, notify_on_arrival=True)
    # Then it answers with the address, the opt-in and that the mail was sent
    assert response.status == 201, response.body
    invite = response.json()
    assert (invite["email"], invite["notify_on_arrival"], invite["email_sent"]) == (VISITOR_EMAIL, True, True)
    # And exactly one invite mail went to the visitor, with the link in both language parts
    (mail,) = mailer(stack).sent
    assert (mail.to, mail.kind) == (VISITOR_EMAIL, "invite")
    assert "Sejong Complex" in mail.subject and "방문" in mail.subject
    assert mail.text.count(invite["registration_url"]) == 2
    assert invite["registration_url"] in mail.html
    # And it says who invites, when (site time), and what happens to the data, in Korean and in English
    assert f"{HOST_EMAIL}님이" in mail.text and f"{HOST_EMAIL} invites you" in mail.text
    assert "(Asia/Seoul)" in mail.text
    assert "사진은 저장하지 않습니다" in mail.text and "Your selfies are never stored" in mail.text
    assert "자동으로 삭제" in mail.text and "deleted automatically" in mail.text
    # And no claim code, token field or score ever appears in a mail
    assert "claim" not in mail.text.lower()


def test_an_invite_without_an_email_sends_nothing(stack: Any) -> None:
    # Given an invite without an e-mail
    response = create(stack)
    # Then it is created, nothing is mailed, and the answer says so
    assert response.status == 201
    assert (response.json()["email"], response.json()["email_sent"]) == (None, False)
    assert mailer(stack).sent == []


@pytest.mark.parametrize(
    "email",
    [
        "not-an-address",
        "two@@example.com",
        "visitor@example.com\r\nBcc: everyone@example.com",
        "Visitor <visitor@example.com>",
        "a b@example.com",
        "visitor@localhost",
        ("x" * 245) + "@example.com",
        "",
    ],
    ids=["no_at", "double_at", "header_injection", "display_name", "space", "no_dot", "over_254", "empty"],
)
def test_an_invalid_email_is_refused_before_anything_is_stored(stack: Any, email: str) -> None:
    # Given an e-mail that is not one plain address of at most 254 characters
    # When an invite is created with it
    response = create(stack, email=email)
    # Then it is refused as invalid and nothing is mailed
    assert (response.status, response.error_code) == (400, "invalid_request")
    assert mailer(stack).sent == []


def test_a_mail_failure_does_not_fail_the_invite(stack: Any) -> None:
    # Given SES refusing every message
    mailer(stack).fail = True
    # When an invite with an e-mail is created
    response = create(stack, email=VISITOR_EMAIL)
    # Then the invite exists and the answer says the mail was not sent (the host can resend)
    assert response.status == 201
    assert response.json()["email_sent"] is False


def test_resend_sends_the_same_link_again_to_hosts_of_the_site_only(stack: Any) -> None:
    # Given an invite with an e-mail
    invite = create(stack, email=VISITOR_EMAIL).json()
    path = f"/invites/{invite['invite_id']}/email"
    # When a host of the site asks to send it again
    resent = stack.api.request("POST", path, claims=host_claims(stack))
    # Then a second mail with the same link goes to the same address
    assert resent.status == 200, resent.body
    assert (resent.json()["invite_id"], resent.json()["email"]) == (invite["invite_id"], VISITOR_EMAIL)
    first, second = mailer(stack).sent
    assert second.to == VISITOR_EMAIL and invite["registration_url"] in second.text
    assert second.text == first.text
    # And a host of another site gets the answer of an unknown invite (ids cannot be probed)
    other = stack.api.request("POST", path, claims=host_claims(stack, ["site_other"]))
    assert (other.status, other.error_code) == (404, "not_found")
    assert len(mailer(stack).sent) == 2


def test_resend_without_an_email_with_a_failing_sender_and_after_erasure(stack: Any) -> None:
    # Given an invite without an e-mail and one with
    plain = create(stack).json()
    with_email = create(stack, email=VISITOR_EMAIL).json()
    # When the first is resent: Then there is nothing to send to
    response = stack.admin("POST", f"/invites/{plain['invite_id']}/email")
    assert (response.status, response.error_code) == (409, "no_email")
    # When SES fails: Then 503 delivery_failed with Retry-After
    mailer(stack).fail = True
    response = stack.admin("POST", f"/invites/{with_email['invite_id']}/email")
    assert (response.status, response.error_code) == (503, "delivery_failed")
    assert "retry-after" in {key.lower() for key in response.headers}
    # When the invite was erased: Then it is gone, and nothing more is sent
    mailer(stack).fail = False
    assert stack.admin("DELETE", f"/invites/{with_email['invite_id']}").status == 200
    response = stack.admin("POST", f"/invites/{with_email['invite_id']}/email")
    assert (response.status, response.error_code) == (410, "invite_revoked")
    assert len(mailer(stack).sent) == 1


def test_the_email_is_erased_with_the_invite_and_named_in_the_receipt(stack: Any) -> None:
    # Given two invites with an e-mail: one the host cancels, one whose visitor deletes their data
    cancelled = create(stack, email=VISITOR_EMAIL).json()
    own = create(stack, email="second@example.com").json()
    # When the host erases the first and the visitor the second
    receipt = stack.admin("DELETE", f"/invites/{cancelled['invite_id']}").json()
    own_receipt = stack.api.request("DELETE", f"/register/{own['token']}").json()
    # Then both receipts name the e-mail, and neither address nor sealed link is stored any more
    assert "email" in receipt["items"] and "email" in own_receipt["items"]
    for invite_id in (cancelled["invite_id"], own["invite_id"]):
        stored = stack.services.repo.get_invite(invite_id)
        assert stored is not None and stored.email is None and stored.link_ct is None
    # And resending the visitor-erased invite is refused: the link is over
    response = stack.admin("POST", f"/invites/{own['invite_id']}/email")
    assert (response.status, response.error_code) == (410, "invite_erased")


def enroll(stack: Any, **extra: Any) -> dict[str, Any]:
    invite: dict[str, Any] = create(stack, **extra).json()
    assert stack.consent(invite["token"]).status == 201
    assert stack.enroll(invite["token"], [b"a1", b"a2", b"a3"]).status == 201
    return invite


def test_every_door_decision_is_published_without_score_token_or_biometric_data(stack: Any) -> None:
    # Given an enrolled visitor
    invite = enroll(stack, email=VISITOR_EMAIL, notify_on_arrival=True)
    # When they pass the door twice and a stranger is denied
    first, second, stranger = (stack.verify(frame) for frame in (b"a4", b"a4", b"b1"))
    assert [r.json()["decision"] for r in (first, second, stranger)] == ["grant", "grant", "deny"]
    # Then one door.decision event per decision was published, with the public decision only
    published = events(stack).events
    assert [kind for kind, _, _ in published] == [DOOR_DECISION] * 3
    details = [detail for _, detail, _ in published]
    assert [d["decision_id"] for d in details] == [r.json()["decision_id"] for r in (first, second, stranger)]
    for detail in details:
        assert detail["site_id"] == stack.site_id and detail["door_id"] == stack.door_id
        assert detail["terminal_id"] == stack.terminal["terminal_id"] and detail["mode"] == "identify"
        assert not FORBIDDEN_EVENT_KEYS & set(detail)
    # And only the first grant is the visitor's first arrival, naming the invite
    assert (details[0]["first_arrival"], details[0]["invite_id"]) == (True, invite["invite_id"])
    assert (details[1]["first_arrival"], details[1]["invite_id"]) == (False, invite["invite_id"])
    # And the deny names no one and carries only the kiosk's next step
    assert details[2]["first_arrival"] is False and "invite_id" not in details[2]
    assert details[2]["next"] == stranger.json()["next"]
    # And no value of any event is an e-mail, a name or a token
    flat = repr(details)
    assert VISITOR_EMAIL not in flat and "Kim Visitor" not in flat and invite["token"] not in flat


def test_a_failed_publish_does_not_fail_the_door_decision(stack: Any) -> None:
    # Given an enrolled visitor and an event bus that refuses every event
    enroll(stack)
    events(stack).fail = True
    # When they pass the door
    response = stack.verify(b"a4")
    # Then the door still opens
    assert response.status == 200 and response.json()["decision"] == "grant"


def test_the_host_is_told_of_the_first_arrival_when_the_invite_opted_in(stack: Any) -> None:
    # Given two enrolled visitors: one invite opted in to the arrival notice, one did not
    opted = enroll(stack, email=VISITOR_EMAIL, notify_on_arrival=True)
    # When the opted-in visitor passes the door twice and the subscriber gets each event
    stack.verify(b"a4")
    stack.verify(b"a4")
    sent_before = len(mailer(stack).sent)
    notified = [notify_arrival(stack.services, detail) for _, detail, _ in events(stack).events]
    # Then the host got exactly one notice, for the first grant, naming the visitor, the site and the door
    assert notified == [True, False]
    arrival = mailer(stack).sent[sent_before:]
    assert [(m.to, m.kind) for m in arrival] == [(HOST_EMAIL, "arrival")]
    assert "Kim Visitor" in arrival[0].text and "Gate 0" in arrival[0].text and "Sejong Complex" in arrival[0].text
    assert opted["registration_url"] not in arrival[0].text


def test_no_arrival_notice_without_the_opt_in_or_a_host_email(stack: Any) -> None:
    # Given a visitor whose invite did not opt in, granted once
    enroll(stack, email=VISITOR_EMAIL)
    stack.verify(b"a4")
    (_, without_opt_in, _) = events(stack).events[-1]
    # And a first-arrival event of an opted-in invite made by an admin token without an e-mail
    admin_claims = {"sub": "admin-1", "cognito:groups": "[admins]"}
    no_host = create(stack, claims=admin_claims, notify_on_arrival=True).json()
    crafted = {**without_opt_in, "invite_id": no_host["invite_id"], "first_arrival": True}
    sent_before = len(mailer(stack).sent)
    # When the subscriber gets them, Then nobody is mailed
    assert without_opt_in["first_arrival"] is True
    assert notify_arrival(stack.services, without_opt_in) is False
    assert notify_arrival(stack.services, crafted) is False
    assert len(mailer(stack).sent) == sent_before


def test_the_mail_names_the_inviting_host_also_when_an_admin_resends(stack: Any) -> None:
    # Given a host whose token carries a name and an e-mail
    claims = {**host_claims(stack), "name": "Park Host"}
    # When they invite a visitor by e-mail, and an admin later resends the mail
    invite = create(stack, claims=claims, email=VISITOR_EMAIL).json()
    assert stack.admin("POST", f"/invites/{invite['invite_id']}/email").status == 200
    # Then the first mail names the host with their e-mail; the resent one still names the host, not the admin
    first, resent = mailer(stack).sent
    assert f"Park Host ({HOST_EMAIL})님이" in first.text and f"Park Host ({HOST_EMAIL}) invites you" in first.text
    assert f"{HOST_EMAIL} invites you" in resent.text and "admin" not in resent.text


def test_resends_are_limited_per_invite_and_hour(stack: Any) -> None:
    # Given an invite with an e-mail (its first mail sent at creation)
    invite = create(stack, email=VISITOR_EMAIL).json()
    path = f"/invites/{invite['invite_id']}/email"
    limit = stack.services.settings.invite_mail_per_hour
    # When the host resends it one time more than the hourly limit
    statuses = [stack.admin("POST", path).status for _ in range(limit + 1)]
    # Then the extra one is refused with 429 and Retry-After, and no mail more than allowed went out
    assert statuses == [200] * limit + [429]
    assert len(mailer(stack).sent) == 1 + limit
    # And once the window has passed (two hours later: the estimate slides over the previous hour) it works again
    stack.clock.advance(7200)
    assert stack.admin("POST", path).status == 200


def test_invites_and_resends_are_audited_without_the_address(stack: Any) -> None:
    # Given an invite by e-mail with the arrival opt-in, one without e-mail, and a resend that SES refuses
    with_email = create(stack, email=VISITOR_EMAIL, notify_on_arrival=True).json()
    plain = create(stack).json()
    mailer(stack).fail = True
    assert stack.admin("POST", f"/invites/{with_email['invite_id']}/email").status == 503
    mailer(stack).fail = False
    assert stack.admin("POST", f"/invites/{with_email['invite_id']}/email").status == 200
    # Then the audit says what happened to each mail, by whom, and never holds the address
    records = stack.services.audit.records
    invites = {r.visitor_id: r.details for r in records if r.kind.value == "invite"}
    assert invites[with_email["invite_id"]] == {"email": "sent", "notify_on_arrival": "true"}
    assert invites[plain["invite_id"]] == {"email": "none"}
    resends = [(r.actor, r.details["result"]) for r in records if r.kind.value == "invite_mailed"]
    assert resends == [("admin-1", "failed"), ("admin-1", "sent")]
    assert VISITOR_EMAIL not in repr(records)

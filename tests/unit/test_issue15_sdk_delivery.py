"""Issue 15 delivery in the SDK and the CLI: ``email`` and ``notify_on_arrival`` on invite creation, the mail
resend (``AdminClient.resend_invite_email``, ``facegate-client resend-invite INVITE_ID``), against the fake API
of test_client_sdk."""

from __future__ import annotations

import pytest
from test_client_sdk import DOOR, T0, T1, TOKEN, FakeApi, admin, api, error, invite_json, run_cli  # noqa: F401

import facegate_client as fc

EMAIL = "visitor@example.com"


def test_create_invite_sends_the_email_and_the_opt_in_and_reads_them_back(api: FakeApi) -> None:  # noqa: F811
    # Given an invite route that answers with the mail fields
    api.on(
        "POST", "/sites/s_1/invites", (201, invite_json(api, email=EMAIL, notify_on_arrival=True, email_sent=True), {})
    )
    # When a host invites with an e-mail and the arrival opt-in
    invite = admin(api).create_invite("s_1", [DOOR], T0, T1, email=EMAIL, notify_on_arrival=True)
    # Then both went out, and the answer's fields are read (the address is not in repr: personal data)
    body = api.hits("POST", "/sites/s_1/invites")[0].json()
    assert (body["email"], body["notify_on_arrival"]) == (EMAIL, True)
    assert (invite.email, invite.notify_on_arrival, invite.email_sent) == (EMAIL, True, True)
    assert EMAIL not in repr(invite)


def test_create_invite_without_email_sends_neither_field_and_reads_an_older_server(api: FakeApi) -> None:  # noqa: F811
    # Given a server that predates the mail fields
    api.on("POST", "/sites/s_1/invites", (201, invite_json(api), {}))
    # When inviting without an e-mail
    invite = admin(api).create_invite("s_1", [DOOR], T0, T1)
    # Then the request carries neither field and the result defaults to no mail
    body = api.hits("POST", "/sites/s_1/invites")[0].json()
    assert "email" not in body and "notify_on_arrival" not in body
    assert (invite.email, invite.notify_on_arrival, invite.email_sent) == (None, False, False)


def test_resend_invite_email_and_its_errors(api: FakeApi) -> None:  # noqa: F811
    # Given the resend route: once sent, then 409 no_email, then 503 delivery_failed
    sent = {"invite_id": "i_1", "email": EMAIL, "sent_at": T0}
    api.on(
        "POST",
        "/invites/i_1/email",
        (200, sent, {}),
        error(409, "no_email"),
        error(503, "delivery_failed", **{"Retry-After": "2"}),
    )
    client = admin(api, retries=0)
    # When it is called three times
    result = client.resend_invite_email("i_1")
    # Then the first returns where and when, the others raise the typed errors with their codes
    assert (result.invite_id, result.email) == ("i_1", EMAIL) and result.sent_at.year == 2026
    with pytest.raises(fc.ConflictError) as conflict:
        client.resend_invite_email("i_1")
    assert conflict.value.code == "no_email"
    with pytest.raises(fc.ServiceUnavailableError) as unavailable:
        client.resend_invite_email("i_1")
    assert unavailable.value.code == "delivery_failed"
    # And a resend is a POST that is never retried blindly (it sends a mail)
    assert len(api.hits("POST", "/invites/i_1/email")) == 3


def test_cli_invite_with_email_and_resend_invite(api: FakeApi) -> None:  # noqa: F811
    # Given the API's invite and resend routes
    api.on(
        "POST", "/sites/s_1/invites", (201, invite_json(api, email=EMAIL, notify_on_arrival=True, email_sent=True), {})
    )
    api.on("POST", "/invites/i_1/email", (200, {"invite_id": "i_1", "email": EMAIL, "sent_at": T0}, {}))
    common = ["--api-url", api.url, "--token", "id-token-123"]
    # When the CLI invites with --email --notify-on-arrival, then resends
    code, out, _ = run_cli(
        "invite", *common, "--site-id", "s_1", "--door-id", DOOR, "--email", EMAIL, "--notify-on-arrival"
    )
    resend_code, resent, _ = run_cli("resend-invite", "i_1", *common)
    # Then both succeed and print JSON; the invite request carried the e-mail and the opt-in
    assert (code, out["email_sent"], out["email"]) == (0, True, EMAIL)
    assert api.hits("POST", "/sites/s_1/invites")[0].json()["notify_on_arrival"] is True
    assert (resend_code, resent["invite_id"], resent["email"]) == (0, "i_1", EMAIL)


def test_visitor_consent_sends_the_separate_biometric_consent_only_when_given(api: FakeApi) -> None:  # noqa: F811
    # Given the consent route
    api.on("POST", f"/register/{TOKEN}/consent", (201, {"consent_version": "v1", "accepted_at": T0}, {}))
    visitor = fc.VisitorClient(f"{api.url}/register/{TOKEN}", retries=0)
    # When the visitor consents once with the separate biometric consent and once without
    visitor.consent("v1", biometric=True)
    visitor.consent("v1")
    # Then only the first request carries it
    first, second = (seen.json() for seen in api.hits("POST", f"/register/{TOKEN}/consent"))
    assert first == {"consent_version": "v1", "accepted": True, "biometric": True}
    assert second == {"consent_version": "v1", "accepted": True}

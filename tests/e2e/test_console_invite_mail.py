"""Issue 15 through the console: a host invites a visitor by e-mail with the arrival notice opted in, and
sends the invite mail again from the invite list; both mails reach the local outbox."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest
from console_support import console_login
from test_issue15_delivery_browser import mails, wait_for

if TYPE_CHECKING:
    from conftest import PageRecorder, Stage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def host_invites_by_mail_and_resends(recorder: PageRecorder, state: dict[str, Any], visitor: str, email: str) -> str:
    """Sign in as the host, invite ``visitor`` with ``email`` and the arrival notice, then press the invite's
    resend button; returns the status line the console shows."""
    from playwright.sync_api import expect

    page = recorder.page
    console_login(page, state, "host")
    page.fill("#inv-name", visitor)
    page.fill("#inv-email", email)
    page.check("#inv-notify")
    page.locator(f"#inv-doors input[value='{state['door_id']}']").check()
    page.click("#invite-send")
    item = page.locator("#invite-list .item", has_text=visitor)
    expect(item).to_have_attribute("data-status", "invited")
    expect(item).to_contain_text(email)
    wait_for("the first invite mail", lambda: mails(state, email, "invite"))
    item.get_by_role("button", name="Send the e-mail again").click()
    expect(page.locator("#invite-status")).to_contain_text(email)
    return page.inner_text("#invite-status")


def test_a_host_invites_by_email_from_the_console_and_sends_the_mail_again(
    live_stack: dict[str, Any], stage: Stage, still_browser: Any
) -> None:
    # Given the running local stack and its seeded host (a still camera: no face is needed here)
    recorder = stage.page(still_browser, "console-invite-mail", width=1280, height=900)
    email = f"guest-{secrets.token_hex(4)}@example.com"

    # When the host invites a visitor by e-mail in the console and presses "Send the e-mail again"
    shown = stage.run(host_invites_by_mail_and_resends, recorder, live_stack, "Mail Guest", email)

    # Then the console confirms the resend, and the outbox holds two invite mails to that address with one link
    assert "sent again" in shown
    sent = wait_for("the resent invite mail", lambda: [m for m in [mails(live_stack, email, "invite")] if len(m) == 2])
    (first, second) = sent[0]
    assert first["links"] == second["links"] and any("/register/" in link for link in first["links"])
    assert recorder.errors == []

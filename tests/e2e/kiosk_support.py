"""The door side of the e2e tests: a site of its own with a kiosk terminal and an enrolled visitor, made
through the SDK against the live local stack, and the kiosk page's saved settings for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stack_client import STACK_CLIENT

from facegate_client import AdminClient, Door, Enrollment, Invite, Site, Terminal, VisitorClient

SETTINGS_KEY = "facegate.kiosk.settings"


@dataclass(frozen=True)
class KioskDoor:
    """A site with one door and one kiosk terminal, and a visitor invited to it for two hours and enrolled."""

    admin: AdminClient
    started: datetime
    """A few seconds before the site was made (UTC): the start of its audit trail."""
    site: Site
    door: Door
    terminal: Terminal
    invite: Invite
    visitor: VisitorClient
    enrollment: Enrollment

    def kiosk_settings(self, **overrides: Any) -> dict[str, Any]:
        """The kiosk page's settings for this door and terminal: same origin, no automatic check, a 5 s
        interval; ``overrides`` add or replace keys (``liveness``, ``sideways``, ...)."""
        return {
            "apiUrl": "",
            "doorId": self.door.door_id,
            "keyId": self.terminal.key_id,
            "secret": self.terminal.secret,
            "auto": False,
            "interval": 5,
            **overrides,
        }


def kiosk_door(live_stack: dict[str, Any], site_name: str, photos: list[Path], display_name: str) -> KioskDoor:
    """Make a :class:`KioskDoor` on the live stack as its admin; the visitor consents and enrolls ``photos``."""
    admin = AdminClient(live_stack["api_url"], live_stack["admin"]["token"], **STACK_CLIENT)
    started = datetime.now(UTC) - timedelta(seconds=5)
    site = admin.create_site(site_name, "Asia/Seoul")
    door = admin.create_door(site.site_id, "Lobby")
    terminal = admin.create_terminal(site.site_id, "Lobby kiosk", [door.door_id])
    invite = admin.create_invite(
        site.site_id,
        [door.door_id],
        started - timedelta(minutes=1),
        started + timedelta(hours=2),
        display_name=display_name,
    )
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    visitor.consent()
    enrollment = visitor.enroll(photos)
    return KioskDoor(admin, started, site, door, terminal, invite, visitor, enrollment)


def store_kiosk_settings(page: Any, settings: dict[str, Any]) -> None:
    """Have the kiosk page find ``settings`` saved in its local storage when it opens (Playwright thread)."""
    stored = json.dumps(json.dumps(settings))
    page.context.add_init_script(f"localStorage.setItem({json.dumps(SETTINGS_KEY)}, {stored});")


RESULT_RECORDER = """
window.__shown = [];
document.addEventListener('DOMContentLoaded', () => {
  const result = document.querySelector('#result');
  if (!result) return;
  const final = ['grant', 'deny', 'error', 'wait'];
  let previous = 'idle';
  let signature = '';
  new MutationObserver(() => {
    const decision = result.dataset.decision;
    const title = document.querySelector('#result-decision').innerText;
    const now = [decision, result.dataset.next, result.dataset.claim, result.dataset.hint, title].join('|');
    if (final.includes(decision) && (!final.includes(previous) || now !== signature)) {
      window.__shown.push({
        decision,
        next: result.dataset.next || null,
        claim: result.dataset.claim || null,
        keys: Object.keys(result.dataset).sort(),
        title,
        text: document.body.innerText,
      });
    }
    previous = decision;
    signature = now;
  }).observe(result, { attributes: true, childList: true, subtree: true, characterData: true });
});
"""
"""An init script that records what the kiosk's result box shows each time a decision appears (the box goes back
to idle a few seconds later: a loaded machine may read it after that)."""


def first_shown(page: Any, after: int = 0) -> dict[str, Any]:
    """What the result box showed for decision number ``after`` (0 = the first since the page loaded; pass
    ``shown_count(page)`` taken before an attempt for that attempt's), waiting until it appears."""
    page.wait_for_function("(n) => window.__shown.length > n", arg=after)
    shown: dict[str, Any] = page.evaluate("(n) => window.__shown[n]", after)
    return shown


def shown_count(page: Any) -> int:
    """How many decisions the result box has shown since the page loaded."""
    return int(page.evaluate("window.__shown.length"))

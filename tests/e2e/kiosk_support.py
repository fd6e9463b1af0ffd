"""The door side of the e2e tests: a site of its own with a kiosk terminal and an enrolled visitor, made
through the SDK against the live local stack, and the kiosk page's saved settings for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    admin = AdminClient(live_stack["api_url"], live_stack["admin"]["token"])
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
    visitor = VisitorClient(invite.registration_url)
    visitor.consent()
    enrollment = visitor.enroll(photos)
    return KioskDoor(admin, started, site, door, terminal, invite, visitor, enrollment)


def store_kiosk_settings(page: Any, settings: dict[str, Any]) -> None:
    """Have the kiosk page find ``settings`` saved in its local storage when it opens (Playwright thread)."""
    stored = json.dumps(json.dumps(settings))
    page.context.add_init_script(f"localStorage.setItem({json.dumps(SETTINGS_KEY)}, {stored});")

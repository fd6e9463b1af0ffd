"""The SDK's console calls (issue 14) against the real local stack: a host made in the emulated user pool,
a kiosk paired by the QR code's URL, the visitor granted at that kiosk, the host's list showing ``arrived``,
the admin's audit view and its CSV export, retirement. Works on its own site (the seeded one stays as the
browser flow expects it).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from stack_client import STACK_CLIENT

from facegate_client import (
    AdminClient,
    NotFoundError,
    PermissionDeniedError,
    TerminalClient,
    VisitorClient,
    pair_kiosk,
)

if TYPE_CHECKING:
    from conftest import FaceCast

pytestmark = [pytest.mark.e2e]


def test_a_paired_kiosk_admits_an_invited_visitor_and_the_console_sees_it(
    live_stack: dict[str, Any], face_cast: FaceCast
) -> None:
    api_url = live_stack["api_url"]
    admin = AdminClient(api_url, live_stack["admin"]["token"], **STACK_CLIENT)
    # Given a site with a door and a terminal, and a host of it created in the user pool
    site = admin.create_site("Console e2e", "Asia/Seoul")
    door = admin.create_door(site.site_id, "Main gate")
    terminal = admin.create_terminal(site.site_id, "Lobby kiosk", [door.door_id])
    host = admin.create_host(f"host-{uuid.uuid4().hex[:8]}@example.com", "Hana Host", [site.site_id])
    assert host.username in {h.username for h in admin.hosts()}
    # When the visitor is invited and enrolls
    now = datetime.now(UTC)
    invite = admin.create_invite(
        site.site_id, [door.door_id], now - timedelta(minutes=1), now + timedelta(hours=2), display_name="Kim"
    )
    visitor = VisitorClient(invite.registration_url, **STACK_CLIENT)
    visitor.consent()
    claim = visitor.enroll(list(face_cast.a_enroll)).claim_code
    # And a kiosk pairs with the URL of the console's QR code, once
    pairing = admin.create_pairing(site.site_id, terminal.terminal_id)
    paired = pair_kiosk(api_url, pairing.pairing_url, **STACK_CLIENT)
    assert paired.terminal_id == terminal.terminal_id and paired.door_ids == (door.door_id,)
    with pytest.raises(NotFoundError):
        pair_kiosk(api_url, pairing.pairing_url, **STACK_CLIENT)
    # And the visitor is granted at that kiosk (with the claim code, as a door of one visitor may ask)
    kiosk = TerminalClient(paired.api_url, paired.key_id, paired.secret, **STACK_CLIENT)
    decision = kiosk.verify(face_cast.a_probe, door.door_id, claim=claim)
    assert decision.granted, decision
    # Then the site's invite list shows the visitor arrived
    listed = list(admin.invites(site.site_id))
    assert [(i.invite_id, i.status) for i in listed] == [(invite.invite_id, "arrived")]
    assert listed[0].arrived_at is not None
    # And the audit view shows the grant by the kiosk's name, and the CSV export has it
    grants = list(admin.audit(site.site_id, decision="grant"))
    assert [(g.door_id, g.actor_name) for g in grants] == [(door.door_id, "Lobby kiosk")]
    rows = list(csv.DictReader(io.StringIO(admin.audit_csv(site.site_id, event="verify"))))
    assert ("grant", "Lobby kiosk") in [(row["decision"], row["actor_name"]) for row in rows]
    paired_events = list(admin.audit(site.site_id, event="terminal_paired"))
    assert [e.terminal_id for e in paired_events] == [terminal.terminal_id]
    # And the site retires: its kiosk is refused from then on
    assert admin.retire_site(site.site_id).retired_at is not None
    with pytest.raises(PermissionDeniedError) as refused:
        kiosk.verify(face_cast.a_probe, door.door_id, claim=claim)
    assert refused.value.code == "site_retired"
    assert admin.disable_host(host.username).enabled is False

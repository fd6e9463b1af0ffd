"""Admin and host use cases: sites, doors, terminals, invites, invite erasure, audit reading."""

from __future__ import annotations

import os
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from facegate.domain.mail import valid_email
from facegate.domain.models import (
    AuditFilter,
    AuditKind,
    AuditQuery,
    AuditRecord,
    Door,
    ErasureReceipt,
    Invite,
    SecurityLevel,
    Site,
    SiteChanges,
    Terminal,
)
from facegate.errors import Conflict, InvalidRequest, NotFound
from facegate.security import tokens
from facegate.usecases import delivery
from facegate.usecases.audit import record_event
from facegate.usecases.context import Principal, Services
from facegate.usecases.keys import door_context, site_context, terminal_context
from facegate.usecases.shared import require_site

MAX_INVITE_WINDOW = timedelta(days=31)
MAX_DOORS_PER_REQUEST = 50


@dataclass(frozen=True, slots=True)
class NewDoor:
    door: Door
    unlock_key: str
    """base64url of the 32-byte unlock key: shown once, to configure the door controller."""


@dataclass(frozen=True, slots=True)
class NewTerminal:
    terminal: Terminal
    secret: str
    """The HMAC secret: shown once."""


@dataclass(frozen=True, slots=True)
class NewInvite:
    invite: Invite
    token: str
    registration_url: str
    email_sent: bool = False
    """The invite mail was accepted by SES (False without an e-mail, without a sender, or on failure)."""


def create_site(
    services: Services,
    actor: Principal,
    name: str,
    timezone: str,
    security_level: SecurityLevel = SecurityLevel.STANDARD,
) -> Site:
    """Create a site with its own KMS data key at ``security_level`` (the door policy's targets)."""
    actor.require_admin()
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"unknown time zone {timezone!r} (use an IANA name such as Asia/Seoul)") from exc
    site_id = tokens.new_id("site")
    _, blob = services.keys.generate_data_key(site_context(site_id))
    site = Site(
        site_id=site_id,
        name=name,
        timezone=timezone,
        created_at=services.clock(),
        data_key_blob=blob,
        security_level=security_level,
    )
    services.repo.put_site(site)
    return site


def update_site(services: Services, actor: Principal, site_id: str, changes: SiteChanges) -> Site:
    """Rename a site, change its security level and/or whether the signed liveness verdict of terminals
    registered with ``attests_liveness`` is accepted in place of the head-turn challenge (admins; a trust
    decision, audited); takes effect at the next door request.

    Raises:
        NotFound: unknown site.
    """
    actor.require_admin()
    site = services.repo.update_site(site_id, changes)
    if site is None:
        raise NotFound("site not found")
    audited = {name: value for name, value in changes.changed().items() if name != "name"}
    details = {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in audited.items()}
    if details:
        record_event(services, site_id, AuditKind.SITE_UPDATED, actor.subject, details=details)
    return site


def require_active_site(services: Services, site_id: str) -> Site:
    """The site, or NotFound; Conflict ``site_retired`` when it was retired (it takes nothing new)."""
    site = require_site(services, site_id)
    if site.retired_at is not None:
        raise Conflict("this site was retired", code="site_retired")
    return site


def create_door(services: Services, actor: Principal, site_id: str, name: str) -> NewDoor:
    """Create a door and its unlock key (returned once, stored KMS-encrypted)."""
    actor.require_admin()
    require_active_site(services, site_id)
    door_id = tokens.new_id("door")
    unlock_key = os.urandom(32)
    door = Door(
        door_id=door_id,
        site_id=site_id,
        name=name,
        created_at=services.clock(),
        unlock_key_blob=services.keys.encrypt(unlock_key, door_context(door_id)),
    )
    services.repo.put_door(door)
    return NewDoor(door=door, unlock_key=tokens.encode_key(unlock_key))


def _check_doors(services: Services, site_id: str, door_ids: list[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(door_ids))
    if not unique or len(unique) > MAX_DOORS_PER_REQUEST:
        raise InvalidRequest(f"door_ids must list 1 to {MAX_DOORS_PER_REQUEST} doors")
    known = {door.door_id for door in services.repo.list_doors(site_id) if door.retired_at is None}
    unknown = [door_id for door_id in unique if door_id not in known]
    if unknown:
        raise InvalidRequest(f"unknown door for this site: {unknown[0]}", code="unknown_door")
    return unique


def create_terminal(
    services: Services,
    actor: Principal,
    site_id: str,
    name: str,
    door_ids: list[str],
    attests_liveness: bool = False,
) -> NewTerminal:
    """Create a door terminal bound to ``site_id`` and ``door_ids``, with a fresh HMAC key; ``attests_liveness``
    registers it as having its own presentation-attack detection (its signed verdict counts only where the
    site accepts it)."""
    actor.require_admin()
    require_active_site(services, site_id)
    doors = _check_doors(services, site_id, door_ids)
    key_id = tokens.new_id("key", 20)
    secret = secrets.token_urlsafe(32)
    terminal = Terminal(
        terminal_id=tokens.new_id("term"),
        site_id=site_id,
        name=name,
        door_ids=doors,
        key_id=key_id,
        secret_blob=services.keys.encrypt(secret.encode(), terminal_context(key_id)),
        created_at=services.clock(),
        attests_liveness=attests_liveness,
    )
    services.repo.put_terminal(terminal)
    return NewTerminal(terminal=terminal, secret=secret)


def revoke_terminal(services: Services, actor: Principal, terminal_id: str) -> Terminal:
    """Revoke a terminal's key: its next request is rejected (no cache can outlive this)."""
    actor.require_admin()
    now = services.clock()
    terminal = services.repo.revoke_terminal(terminal_id, now)
    if terminal is None:
        raise NotFound("terminal not found")
    record_event(services, terminal.site_id, AuditKind.TERMINAL_REVOKED, actor.subject, terminal_id=terminal_id)
    return terminal


def create_invite(
    services: Services,
    actor: Principal,
    site_id: str,
    door_ids: list[str],
    valid_from: datetime,
    valid_until: datetime,
    display_name: str | None = None,
    base_url: str = "",
    email: str | None = None,
    notify_on_arrival: bool = False,
) -> NewInvite:
    """Invite one visitor to ``door_ids`` of ``site_id`` for [valid_from, valid_until).

    ``base_url`` is where the API is reached (the deployment's public URL, else the request's host);
    the registration link is ``<base_url>/register/<token>``. With ``email`` the link is mailed to the
    visitor (``NewInvite.email_sent``); ``notify_on_arrival`` mails the host (the token's e-mail) on the
    visitor's first grant.
    """
    actor.require_host_of(site_id)
    site = require_active_site(services, site_id)
    if email is not None and not valid_email(email):
        raise InvalidRequest("email is not a valid e-mail address", code="invalid_email")
    now = services.clock()
    if valid_until <= valid_from:
        raise InvalidRequest("valid_until must be after valid_from", code="invalid_window")
    if valid_until <= now:
        raise InvalidRequest("valid_until is in the past", code="invalid_window")
    if valid_until - valid_from > MAX_INVITE_WINDOW:
        raise InvalidRequest("an invite may last at most 31 days", code="invalid_window")
    if valid_from > now + timedelta(days=services.settings.invite_max_lead_days):
        raise InvalidRequest(
            f"an invite may start at most {services.settings.invite_max_lead_days} days ahead", code="invalid_window"
        )
    doors = _check_doors(services, site_id, door_ids)
    token = tokens.new_invite_token()
    invite_id = tokens.new_id("inv")
    url = f"{(services.settings.public_base_url or base_url).rstrip('/')}/register/{token}"
    invite = Invite(
        invite_id=invite_id,
        site_id=site_id,
        door_ids=doors,
        valid_from=valid_from,
        valid_until=valid_until,
        token_hash=tokens.hash_token(token),
        created_at=now,
        created_by=actor.subject,
        display_name=display_name or None,
        email=email or None,
        notify_on_arrival=notify_on_arrival,
        host_email=actor.email,
        link_ct=delivery.seal_link(services, site, invite_id, url),
    )
    services.repo.put_invite(invite)
    sent = delivery.send_invite_mail(services, site, invite, url, delivery.host_label(actor, invite))
    details = {"email": "none" if email is None else ("sent" if sent else "not_sent")}
    if notify_on_arrival:
        details["notify_on_arrival"] = "true"
    record_event(services, site_id, AuditKind.INVITE, actor.subject, visitor_id=invite.invite_id, details=details)
    return NewInvite(invite=invite, token=token, registration_url=url, email_sent=sent)


def erase_invite(services: Services, actor: Principal, invite_id: str) -> ErasureReceipt:
    """Erase everything biometric of an invite and revoke its token (hosts of the site, admins)."""
    actor.require_host_or_admin()
    invite = services.repo.get_invite(invite_id)
    if invite is None or not actor.may_host(invite.site_id):
        raise NotFound("invite not found")  # one answer for unknown and another site's: ids cannot be probed
    now = services.clock()
    items = services.repo.erase_visitor(invite_id, now, revoke=True)
    record_event(
        services, invite.site_id, AuditKind.ERASE, actor.subject, visitor_id=invite_id, details={"by": "host_or_admin"}
    )
    return ErasureReceipt(erased_at=now, items=items, invite_id=invite_id)


@dataclass(frozen=True, slots=True)
class AuditSelection:
    """The audit records an admin asks for: a site, a window [start, end) (None: the last 24 hours up to now)
    and what the records must match (None: any)."""

    site_id: str
    start: datetime | None = None
    end: datetime | None = None
    filters: AuditFilter | None = None


def read_audit(
    services: Services, actor: Principal, selection: AuditSelection, limit: int, cursor: str | None
) -> tuple[list[AuditRecord], str | None]:
    """One page (at most ``limit``, 1 to 500) of the selected audit trail, oldest first (admins)."""
    actor.require_admin()
    require_site(services, selection.site_id)
    now = services.clock()
    end = selection.end or now + timedelta(seconds=1)
    start = selection.start or end - timedelta(days=1)
    if start >= end:
        raise InvalidRequest("from must be before to", code="invalid_window")
    limit = max(1, min(limit, 500))
    return services.audit.query(AuditQuery(selection.site_id, start, end, selection.filters), limit, cursor)

"""What the console reads and changes beyond creation: lists, retirement, key rotation, invites with their
status, and the audit trail with names (hosts see their own sites only; everything else is for admins)."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from facegate.domain.invite_status import InviteStatus, invite_status
from facegate.domain.models import (
    AuditKind,
    AuditRecord,
    Door,
    Invite,
    Site,
    Terminal,
    rfc3339,
)
from facegate.errors import Conflict, InvalidRequest, NotFound
from facegate.security import tokens
from facegate.usecases import admin
from facegate.usecases.audit import record_event
from facegate.usecases.context import Principal, Services
from facegate.usecases.delivery import open_link
from facegate.usecases.keys import terminal_context
from facegate.usecases.shared import require_site

MAX_PAGE = 100
"""Largest ``limit`` of a console list."""
CSV_MAX_ROWS = 10_000
"""Most audit rows one CSV export holds (``truncated`` says when more matched)."""
CSV_PAGE = 500


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of a list and the cursor of the next (None on the last page)."""

    items: list[T]
    next_token: str | None


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("next_token is not valid for this list", code="invalid_request") from exc


def paginate[T](items: Iterable[T], key: Callable[[T], str], limit: int, cursor: str | None) -> Page[T]:
    """A page of ``items`` in ``key`` order: the first ``limit`` after the cursor's key (the cursor is the
    base64url of the last returned key, so a page never repeats or skips an item that stays in the list)."""
    ordered = sorted(items, key=key)
    if cursor:
        after = _decode_cursor(cursor)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page(page, _encode_cursor(key(page[-1])) if more and page else None)


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def _created_key(created_at: datetime, object_id: str) -> str:
    return f"{rfc3339(created_at)}#{object_id}"


# --------------------------------------------------------------------------------------- sites and doors


def list_sites(services: Services, actor: Principal, limit: int, cursor: str | None) -> Page[Site]:
    """Every site for admins, the caller's own sites for hosts; oldest first."""
    actor.require_host_or_admin()
    if actor.is_admin:
        sites = services.repo.list_sites()
    else:
        found = (services.repo.get_site(site_id) for site_id in sorted(actor.site_ids))
        sites = [site for site in found if site is not None]
    return paginate(sites, lambda s: _created_key(s.created_at, s.site_id), _limit(limit), cursor)


def get_site(services: Services, actor: Principal, site_id: str) -> Site:
    """One site (admins, hosts of the site)."""
    actor.require_host_of(site_id)
    return require_site(services, site_id)


def retire_site(services: Services, actor: Principal, site_id: str) -> Site:
    """Retire a site (admins): it takes no new doors, terminals or invites, and its doors deny. Audited."""
    actor.require_admin()
    site = services.repo.retire_site(site_id, services.clock())
    if site is None:
        raise NotFound("site not found")
    record_event(services, site_id, AuditKind.SITE_RETIRED, actor.subject)
    return site


def list_doors(services: Services, actor: Principal, site_id: str, limit: int, cursor: str | None) -> Page[Door]:
    """A site's doors, oldest first (admins, hosts of the site: they pick doors for invites)."""
    actor.require_host_of(site_id)
    require_site(services, site_id)
    doors = services.repo.list_doors(site_id)
    return paginate(doors, lambda d: _created_key(d.created_at, d.door_id), _limit(limit), cursor)


def retire_door(services: Services, actor: Principal, site_id: str, door_id: str) -> Door:
    """Retire a door (admins): terminals can no longer open it, new invites cannot name it. Audited."""
    actor.require_admin()
    require_site(services, site_id)
    door = services.repo.retire_door(site_id, door_id, services.clock())
    if door is None:
        raise NotFound("door not found")
    record_event(services, site_id, AuditKind.DOOR_RETIRED, actor.subject, door_id=door_id)
    return door


# --------------------------------------------------------------------------------------- terminals


def list_terminals(
    services: Services, actor: Principal, site_id: str, limit: int, cursor: str | None
) -> Page[Terminal]:
    """A site's terminals, revoked ones too, oldest first (admins)."""
    actor.require_admin()
    require_site(services, site_id)
    terminals = services.repo.list_terminals(site_id)
    return paginate(terminals, lambda t: _created_key(t.created_at, t.terminal_id), _limit(limit), cursor)


def site_terminal(services: Services, site_id: str, terminal_id: str) -> Terminal:
    """The terminal of ``site_id`` (NotFound for an unknown one or another site's)."""
    terminal = services.repo.get_terminal(terminal_id)
    if terminal is None or terminal.site_id != site_id:
        raise NotFound("terminal not found")
    return terminal


def new_key(services: Services, terminal: Terminal, paired: bool) -> admin.NewTerminal:
    """Give ``terminal`` a fresh key id and HMAC secret (the old key stops working at once).

    Raises:
        Conflict: ``terminal_revoked`` (a revoked terminal stays revoked) or ``terminal_changed`` (a
            concurrent rotation won; ask again).
    """
    if terminal.revoked:
        raise Conflict("this terminal was revoked; create a new one", code="terminal_revoked")
    key_id = tokens.new_id("key", 20)
    secret = secrets.token_urlsafe(32)
    blob = services.keys.encrypt(secret.encode(), terminal_context(key_id))
    rotated = services.repo.rotate_terminal(
        terminal.terminal_id, terminal.key_id, key_id, blob, services.clock(), paired
    )
    if rotated is None:
        raise Conflict("the terminal changed meanwhile; try again", code="terminal_changed")
    return admin.NewTerminal(terminal=rotated, secret=secret)


def rotate_terminal(services: Services, actor: Principal, site_id: str, terminal_id: str) -> admin.NewTerminal:
    """A new key id and secret for a terminal (admins; the secret is returned once). Audited."""
    actor.require_admin()
    require_site(services, site_id)
    rotated = new_key(services, site_terminal(services, site_id, terminal_id), paired=False)
    record_event(services, site_id, AuditKind.TERMINAL_ROTATED, actor.subject, terminal_id=terminal_id)
    return rotated


# --------------------------------------------------------------------------------------- invites


@dataclass(frozen=True, slots=True)
class InviteView:
    """An invite as the console shows it."""

    invite: Invite
    status: InviteStatus
    created_by_name: str | None
    registration_url: str | None = None


def _names(services: Services, subs: Iterable[str]) -> dict[str, str]:
    wanted = {sub for sub in subs if sub and not sub.startswith("terminal:") and sub != "visitor"}
    if services.directory is None or not wanted:
        return {}
    return services.directory.names_for(wanted)


def list_invites(
    services: Services,
    actor: Principal,
    site_id: str,
    status: InviteStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[InviteView]:
    """A site's invites, newest first, optionally of one status (admins, hosts of the site)."""
    actor.require_host_of(site_id)
    require_site(services, site_id)
    now = services.clock()

    def keep(invite: Invite) -> bool:
        return status is None or invite_status(invite, now) is status

    invites, next_token = services.repo.list_invites(site_id, _limit(limit), cursor or None, keep)
    names = _names(services, (invite.created_by for invite in invites))
    views = [InviteView(i, invite_status(i, now), names.get(i.created_by)) for i in invites]
    return Page(views, next_token)


def get_invite(services: Services, actor: Principal, invite_id: str) -> InviteView:
    """One invite with its registration link when it is still kept (admins, hosts of its site; another
    site's invite is NotFound like an unknown one)."""
    actor.require_host_or_admin()
    invite = services.repo.get_invite(invite_id)
    if invite is None or not actor.may_host(invite.site_id):
        raise NotFound("invite not found")
    site = require_site(services, invite.site_id)
    status = invite_status(invite, services.clock())
    url = open_link(services, site, invite) if status is not InviteStatus.ERASED else None
    names = _names(services, [invite.created_by])
    return InviteView(invite, status, names.get(invite.created_by), url)


# --------------------------------------------------------------------------------------- audit


@dataclass(frozen=True, slots=True)
class NamedRecord:
    record: AuditRecord
    actor_name: str | None


def actor_names(
    services: Services, site_id: str, records: Sequence[AuditRecord], known: dict[str, str | None] | None = None
) -> dict[str, str | None]:
    """Names behind the actors of ``records`` (None where unknown): users' names from the directory, terminals'
    names. ``known`` holds names looked up before (a CSV export reads many pages): only new actors are looked up."""
    names: dict[str, str | None] = dict(known or {})
    actors = {record.actor for record in records} - set(names)
    if not actors:
        return names
    found: dict[str, str | None] = dict(_names(services, actors))
    if any(actor.startswith("terminal:") for actor in actors):
        for terminal in services.repo.list_terminals(site_id):
            found[f"terminal:{terminal.terminal_id}"] = terminal.name
    names.update({actor: found.get(actor) for actor in actors})
    return names


def read_audit(
    services: Services,
    actor: Principal,
    selection: admin.AuditSelection,
    limit: int,
    cursor: str | None,
    known: dict[str, str | None] | None = None,
) -> Page[NamedRecord]:
    """One page of the selected audit trail with actor names (admins); ``known``: names looked up before."""
    records, next_token = admin.read_audit(services, actor, selection, limit, cursor)
    names = actor_names(services, selection.site_id, records, known)
    if known is not None:
        known.update(names)
    return Page([NamedRecord(r, names.get(r.actor)) for r in records], next_token)


CSV_COLUMNS = (
    "at",
    "event",
    "actor",
    "actor_name",
    "door_id",
    "terminal_id",
    "visitor_id",
    "decision",
    "reason",
    "mode",
    "similarity",
    "threshold",
    "model_id",
    "latency_ms",
    "event_id",
)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run: text starting with ``= + - @`` (or a tab or carriage
    return) gets a leading apostrophe. Numbers are written as numbers."""
    if value is None:
        return ""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


@dataclass(frozen=True, slots=True)
class AuditCsv:
    text: str
    rows: int
    truncated: bool


def audit_csv(services: Services, actor: Principal, selection: admin.AuditSelection) -> AuditCsv:
    """The selected audit trail as CSV (RFC 4180 quoting, formula-safe cells), oldest first, at most
    :data:`CSV_MAX_ROWS` rows (admins)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    rows = 0
    truncated = False
    known: dict[str, str | None] = {}
    while True:
        page = read_audit(services, actor, selection, CSV_PAGE, cursor, known)
        for named in page.items:
            if rows == CSV_MAX_ROWS:
                truncated = True
                break
            r = named.record
            values = {
                "at": rfc3339(r.at),
                "event": r.kind.value,
                "actor": r.actor,
                "actor_name": named.actor_name,
                "door_id": r.door_id,
                "terminal_id": r.terminal_id,
                "visitor_id": r.visitor_id,
                "decision": r.decision,
                "reason": r.reason,
                "mode": r.mode,
                "similarity": r.similarity,
                "threshold": r.threshold,
                "model_id": r.model_id,
                "latency_ms": r.latency_ms,
                "event_id": r.event_id,
            }
            writer.writerow([csv_cell(values[column]) for column in CSV_COLUMNS])
            rows += 1
        cursor = page.next_token
        if truncated or cursor is None:
            break
    return AuditCsv(out.getvalue(), rows, truncated)

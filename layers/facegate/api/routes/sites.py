"""Admin routes: sites, doors, terminals, pairing codes, audit (Bearer JWT of the `admins` group; hosts may
list and read their own sites and their doors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from facegate.api.deps import ActorDep, Id, Limit, NextToken, ServicesDep
from facegate.api.errors import SECURITY_HEADERS
from facegate.api.openapi import ADMIN_SECURITY, admin_route, responses
from facegate.api.records import body_from
from facegate.api.schemas import (
    AuditItem,
    AuditPage,
    CreateDoor,
    CreateSite,
    CreateTerminal,
    DoorOut,
    DoorPage,
    DoorSummary,
    PairingOut,
    RevokedTerminalOut,
    Rfc3339,
    SecurityPolicyOut,
    SiteOut,
    SitePage,
    SiteSummary,
    TerminalOut,
    TerminalPage,
    TerminalSummary,
    UpdateSite,
)
from facegate.domain.models import AuditFilter, AuditKind, Door, SecurityLevel, Site, SiteChanges, Terminal
from facegate.usecases import admin, console, pairing
from facegate.usecases.context import Services

router = Router()
DecisionFilter = Annotated[Literal["grant", "deny", "refused"] | None, Query(description="only this decision")]
EventFilter = Annotated[AuditKind | None, Query(description="only this event")]
DoorFilter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
WindowStart = Annotated[Rfc3339 | None, Query(alias="from", description="RFC 3339, inclusive")]
WindowEnd = Annotated[Rfc3339 | None, Query(alias="to", description="RFC 3339, exclusive")]


@admin_route(router.post, "/sites", 201, SiteOut, 400, 401, 403, 413, 415, tags=["admin"])
def create_site(body: CreateSite, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """Create a site at a security level (admins); the response shows the level's thresholds and rates."""
    site = admin.create_site(services, actor, body.name, body.timezone, SecurityLevel(body.security_level))
    return _site_out(services, site)


@admin_route(router.patch, "/sites/<site_id>", 200, SiteOut, 400, 401, 403, 404, 413, 415, tags=["admin"])
def update_site(site_id: Id, body: UpdateSite, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """Rename a site or change its security level (admins); the response shows the level's thresholds and rates."""
    level = None if body.security_level is None else SecurityLevel(body.security_level)
    site = admin.update_site(services, actor, site_id, SiteChanges(body.name, level, body.accept_terminal_liveness))
    return _site_out(services, site)


def _site_out(services: Services, site: Site) -> SiteOut:
    summary = services.door_policy().summary(site.security_level)
    return SiteOut.of(site, policy=SecurityPolicyOut.model_validate(summary))


def _site_summary(site: Site) -> SiteSummary:
    return SiteSummary.of(site)


def _door_summary(door: Door) -> DoorSummary:
    return DoorSummary.of(door)


def _terminal_summary(terminal: Terminal) -> TerminalSummary:
    return TerminalSummary.of(terminal)


@admin_route(router.get, "/sites", 200, SitePage, 400, 401, 403, tags=["admin", "host"])
def list_sites(services: ServicesDep, actor: ActorDep, limit: Limit = 50, next_token: NextToken = None) -> SitePage:
    """Sites, oldest first: every site for admins, their own sites for hosts."""
    page = console.list_sites(services, actor, limit, next_token)
    return SitePage(items=[_site_summary(site) for site in page.items], next_token=page.next_token)


@admin_route(router.get, "/sites/<site_id>", 200, SiteOut, 401, 403, 404, tags=["admin", "host"])
def get_site(site_id: Id, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """One site with its level's thresholds and rates (admins, hosts of the site)."""
    return _site_out(services, console.get_site(services, actor, site_id))


@admin_route(router.delete, "/sites/<site_id>", 200, SiteOut, 401, 403, 404, tags=["admin"])
def retire_site(site_id: Id, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """Retire a site (admins): no new doors, terminals or invites (409 ``site_retired``); its doors deny."""
    return _site_out(services, console.retire_site(services, actor, site_id))


@admin_route(router.get, "/sites/<site_id>/doors", 200, DoorPage, 400, 401, 403, 404, tags=["admin", "host"])
def list_doors(
    site_id: Id, services: ServicesDep, actor: ActorDep, limit: Limit = 50, next_token: NextToken = None
) -> DoorPage:
    """A site's doors, oldest first (admins, hosts of the site)."""
    page = console.list_doors(services, actor, site_id, limit, next_token)
    return DoorPage(items=[_door_summary(door) for door in page.items], next_token=page.next_token)


@admin_route(router.delete, "/sites/<site_id>/doors/<door_id>", 200, DoorSummary, 401, 403, 404, tags=["admin"])
def retire_door(site_id: Id, door_id: Id, services: ServicesDep, actor: ActorDep) -> DoorSummary:
    """Retire a door (admins): terminals can no longer open it, new invites cannot name it."""
    return _door_summary(console.retire_door(services, actor, site_id, door_id))


@admin_route(router.get, "/sites/<site_id>/terminals", 200, TerminalPage, 400, 401, 403, 404, tags=["admin"])
def list_terminals(
    site_id: Id, services: ServicesDep, actor: ActorDep, limit: Limit = 50, next_token: NextToken = None
) -> TerminalPage:
    """A site's terminals, revoked ones too, oldest first; never a secret (admins)."""
    page = console.list_terminals(services, actor, site_id, limit, next_token)
    return TerminalPage(items=[_terminal_summary(t) for t in page.items], next_token=page.next_token)


@admin_route(
    router.post, "/sites/<site_id>/terminals/<terminal_id>/rotate", 200, TerminalOut, 401, 403, 404, 409, tags=["admin"]
)
def rotate_terminal(site_id: Id, terminal_id: Id, services: ServicesDep, actor: ActorDep) -> TerminalOut:
    """A new key id and secret for a terminal, shown once; the old key stops working at once (admins)."""
    new = console.rotate_terminal(services, actor, site_id, terminal_id)
    return TerminalOut(
        terminal_id=new.terminal.terminal_id,
        key_id=new.terminal.key_id,
        secret=new.secret,
        site_id=site_id,
        door_ids=list(new.terminal.door_ids),
    )


@admin_route(
    router.post, "/sites/<site_id>/terminals/<terminal_id>/pairing", 201, PairingOut, 401, 403, 404, 409, tags=["admin"]
)
def create_pairing(site_id: Id, terminal_id: Id, services: ServicesDep, actor: ActorDep) -> PairingOut:
    """A one-time code (<= 10 minutes) a kiosk trades for this terminal's credentials at ``POST /pair``
    (admins); show ``pairing_url`` as a QR code."""
    new = pairing.issue_pairing(services, actor, site_id, terminal_id, _origin())
    return PairingOut(pairing_code=new.pairing_code, pairing_url=new.pairing_url, expires_at=new.expires_at)


def _origin() -> str:
    event: Any = router.current_event
    return f"https://{event.request_context.domain_name}"


@admin_route(router.post, "/sites/<site_id>/doors", 201, DoorOut, 400, 401, 403, 404, 413, 415, tags=["admin"])
def create_door(site_id: Id, body: CreateDoor, services: ServicesDep, actor: ActorDep) -> DoorOut:
    """Create a door; the response carries its unlock key once (admins)."""
    new = admin.create_door(services, actor, site_id, body.name)
    return DoorOut(door_id=new.door.door_id, site_id=site_id, name=new.door.name, unlock_key=new.unlock_key)


@admin_route(router.post, "/sites/<site_id>/terminals", 201, TerminalOut, 400, 401, 403, 404, 413, 415, tags=["admin"])
def create_terminal(site_id: Id, body: CreateTerminal, services: ServicesDep, actor: ActorDep) -> TerminalOut:
    """Register a door terminal; the response carries its secret once (admins)."""
    new = admin.create_terminal(services, actor, site_id, body.name, body.door_ids, body.attests_liveness)
    return body_from(TerminalOut, new.terminal, new)


@admin_route(router.delete, "/terminals/<terminal_id>", 200, RevokedTerminalOut, 401, 403, 404, tags=["admin"])
def revoke_terminal(terminal_id: Id, services: ServicesDep, actor: ActorDep) -> RevokedTerminalOut:
    """Revoke a terminal's key at once (admins)."""
    terminal = admin.revoke_terminal(services, actor, terminal_id)
    assert terminal.revoked_at is not None
    return RevokedTerminalOut(terminal_id=terminal.terminal_id, revoked_at=terminal.revoked_at)


@admin_route(router.get, "/sites/<site_id>/audit", 200, AuditPage, 400, 401, 403, 404, tags=["admin"])
def read_audit(
    site_id: Id,
    services: ServicesDep,
    actor: ActorDep,
    start: WindowStart = None,
    end: WindowEnd = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
    door_id: DoorFilter = None,
    decision: DecisionFilter = None,
    event: EventFilter = None,
) -> AuditPage:
    """Decisions and events of a site, oldest first, paginated, optionally filtered by door, decision and
    event, with the actor's name where known (admins). Default window: the last 24 hours."""
    selection = _selection(site_id, start, end, door_id, decision, event)
    page = console.read_audit(services, actor, selection, limit, next_token)
    items = [AuditItem.of(named.record, actor_name=named.actor_name) for named in page.items]
    return AuditPage(items=items, next_token=page.next_token)


def _selection(
    site_id: str,
    start: datetime | None,
    end: datetime | None,
    door_id: str | None,
    decision: str | None,
    event: AuditKind | None,
) -> admin.AuditSelection:
    """What both audit routes read: their site, window and filters (the same query parameters)."""
    return admin.AuditSelection(site_id, start, end, AuditFilter(door_id=door_id, decision=decision, kind=event))


_CSV_RESPONSES: dict[int, Any] = {
    **responses(200, AuditPage, 400, 401, 403, 404),
    200: {
        "description": "the filtered audit trail as CSV (RFC 4180; cells starting with = + - @ get a leading ')",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
}


@router.get("/sites/<site_id>/audit/csv", security=ADMIN_SECURITY, responses=_CSV_RESPONSES, tags=["admin"])
def export_audit_csv(
    site_id: Id,
    services: ServicesDep,
    actor: ActorDep,
    start: WindowStart = None,
    end: WindowEnd = None,
    door_id: DoorFilter = None,
    decision: DecisionFilter = None,
    event: EventFilter = None,
) -> Response[str]:
    """The audit trail with the same filters as ``GET /sites/{site_id}/audit`` as a CSV attachment, at most
    10,000 rows (``X-Facegate-Truncated: true`` when more matched) (admins)."""
    export = console.audit_csv(services, actor, _selection(site_id, start, end, door_id, decision, event))
    stamp = services.clock().strftime("%Y%m%d")
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="facegate-audit-{site_id}-{stamp}.csv"',
        "X-Facegate-Truncated": "true" if export.truncated else "false",
    }
    return Response(status_code=200, content_type="text/csv; charset=utf-8", body=export.text, headers=headers)

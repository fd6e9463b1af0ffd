"""Admin routes: sites, doors, terminals, audit (Bearer JWT of the `admins` group)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from facegate.api.deps import jwt_principal, provide_services
from facegate.api.openapi import ADMIN_SECURITY, responses
from facegate.api.schemas import (
    AuditItem,
    AuditPage,
    CreateDoor,
    CreateSite,
    CreateTerminal,
    DoorOut,
    RevokedTerminalOut,
    Rfc3339,
    SecurityPolicyOut,
    SiteOut,
    TerminalOut,
    UpdateSite,
)
from facegate.domain.models import SecurityLevel, Site
from facegate.usecases import admin
from facegate.usecases.context import Principal, Services

router = Router()
ServicesDep = Annotated[Services, Depends(provide_services)]
ActorDep = Annotated[Principal, Depends(jwt_principal)]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "/sites",
    status_code=201,
    security=ADMIN_SECURITY,
    responses=responses(201, SiteOut, 400, 401, 403, 413, 415),
    tags=["admin"],
)
def create_site(body: CreateSite, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """Create a site at a security level (admins); the response shows the level's thresholds and rates."""
    site = admin.create_site(services, actor, body.name, body.timezone, SecurityLevel(body.security_level))
    return _site_out(services, site)


@router.patch(
    "/sites/<site_id>",
    security=ADMIN_SECURITY,
    responses=responses(200, SiteOut, 400, 401, 403, 404, 413, 415),
    tags=["admin"],
)
def update_site(site_id: Id, body: UpdateSite, services: ServicesDep, actor: ActorDep) -> SiteOut:
    """Rename a site or change its security level (admins); the response shows the level's thresholds and rates."""
    level = None if body.security_level is None else SecurityLevel(body.security_level)
    site = admin.update_site(services, actor, site_id, body.name, level)
    return _site_out(services, site)


def _site_out(services: Services, site: Site) -> SiteOut:
    summary = services.door_policy().summary(site.security_level)
    return SiteOut(
        site_id=site.site_id,
        name=site.name,
        timezone=site.timezone,
        security_level=site.security_level.value,
        policy=SecurityPolicyOut.model_validate(summary),
        created_at=site.created_at,
    )


@router.post(
    "/sites/<site_id>/doors",
    status_code=201,
    security=ADMIN_SECURITY,
    responses=responses(201, DoorOut, 400, 401, 403, 404, 413, 415),
    tags=["admin"],
)
def create_door(site_id: Id, body: CreateDoor, services: ServicesDep, actor: ActorDep) -> DoorOut:
    """Create a door; the response carries its unlock key once (admins)."""
    new = admin.create_door(services, actor, site_id, body.name)
    return DoorOut(door_id=new.door.door_id, site_id=site_id, name=new.door.name, unlock_key=new.unlock_key)


@router.post(
    "/sites/<site_id>/terminals",
    status_code=201,
    security=ADMIN_SECURITY,
    responses=responses(201, TerminalOut, 400, 401, 403, 404, 413, 415),
    tags=["admin"],
)
def create_terminal(site_id: Id, body: CreateTerminal, services: ServicesDep, actor: ActorDep) -> TerminalOut:
    """Register a door terminal; the response carries its secret once (admins)."""
    new = admin.create_terminal(services, actor, site_id, body.name, body.door_ids)
    terminal = new.terminal
    return TerminalOut(
        terminal_id=terminal.terminal_id,
        key_id=terminal.key_id,
        secret=new.secret,
        site_id=site_id,
        door_ids=list(terminal.door_ids),
    )


@router.delete(
    "/terminals/<terminal_id>",
    security=ADMIN_SECURITY,
    responses=responses(200, RevokedTerminalOut, 401, 403, 404),
    tags=["admin"],
)
def revoke_terminal(terminal_id: Id, services: ServicesDep, actor: ActorDep) -> RevokedTerminalOut:
    """Revoke a terminal's key at once (admins)."""
    terminal = admin.revoke_terminal(services, actor, terminal_id)
    assert terminal.revoked_at is not None
    return RevokedTerminalOut(terminal_id=terminal.terminal_id, revoked_at=terminal.revoked_at)


@router.get(
    "/sites/<site_id>/audit",
    security=ADMIN_SECURITY,
    responses=responses(200, AuditPage, 400, 401, 403, 404),
    tags=["admin"],
)
def read_audit(
    site_id: Id,
    services: ServicesDep,
    actor: ActorDep,
    start: Annotated[Rfc3339 | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
    end: Annotated[Rfc3339 | None, Query(alias="to", description="RFC 3339, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    """Decisions and events of a site, oldest first, paginated (admins)."""
    records, cursor = admin.read_audit(services, actor, site_id, start, end, limit, next_token)
    items = [
        AuditItem(
            event_id=r.event_id,
            event=r.kind.value,
            at=r.at,
            actor=r.actor,
            door_id=r.door_id,
            terminal_id=r.terminal_id,
            visitor_id=r.visitor_id,
            decision=r.decision,
            reason=r.reason,
            mode=r.mode,
            similarity=r.similarity,
            threshold=r.threshold,
            model_id=r.model_id,
            latency_ms=r.latency_ms,
            details=r.details,
        )
        for r in records
    ]
    return AuditPage(items=items, next_token=cursor)

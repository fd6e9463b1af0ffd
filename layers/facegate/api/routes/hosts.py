"""Users of the console: who am I (``GET /me``, admins and hosts) and host management (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from facegate.api.deps import ActorDep, Limit, NextToken, ServicesDep
from facegate.api.openapi import admin_route
from facegate.api.records import body_from
from facegate.api.schemas import CreateHost, HostOut, HostPage, MeOut, NewHostOut
from facegate.usecases import hosts

router = Router()
Username = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@+-]+$")]


def _claims(request: Request) -> dict[str, Any]:
    event: Any = request.resolved_event
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return claims if isinstance(claims, dict) else {}


@admin_route(router.get, "/me", 200, MeOut, 401, 403, tags=["admin", "host"])
def me(actor: ActorDep, request: Request) -> MeOut:
    """Who the bearer token belongs to and what it may do (admins and hosts)."""
    actor.require_host_or_admin()
    claims = _claims(request)
    email = claims.get("email")
    name = claims.get("name")
    return MeOut(
        sub=actor.subject,
        email=None if email is None else str(email),
        name=None if name is None else str(name),
        groups=sorted(actor.groups),
        site_ids=None if actor.is_admin else sorted(actor.site_ids),
        role="admin" if actor.is_admin else "host",
    )


@admin_route(router.post, "/hosts", 201, NewHostOut, 400, 401, 403, 409, 413, 415, 503, tags=["admin"])
def create_host(body: CreateHost, services: ServicesDep, actor: ActorDep) -> NewHostOut:
    """Create a host user scoped to sites (admins); the temporary password is shown once and must be changed
    at first sign-in."""
    user, password = hosts.create_host(services, actor, body.email, body.name, body.site_ids)
    return body_from(NewHostOut, user, temporary_password=password)


@admin_route(router.get, "/hosts", 200, HostPage, 400, 401, 403, 503, tags=["admin"])
def list_hosts(
    services: ServicesDep,
    actor: ActorDep,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> HostPage:
    """Host users, by e-mail (admins)."""
    page = hosts.list_hosts(services, actor, limit, next_token)
    return HostPage(items=[body_from(HostOut, user) for user in page.items], next_token=page.next_token)


@admin_route(router.delete, "/hosts/<username>", 200, HostOut, 401, 403, 404, 503, tags=["admin"])
def disable_host(username: Username, services: ServicesDep, actor: ActorDep) -> HostOut:
    """Disable a host user (admins): sign-in is refused from now on."""
    return body_from(HostOut, hosts.disable_host(services, actor, username))

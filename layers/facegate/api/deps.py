"""Dependencies injected into routes with Powertools ``Depends``: services, caller identity, source; and the
annotated parameter types every route module shares (:data:`ServicesDep`, :data:`ActorDep`, :data:`SourceDep`,
:data:`Id`, :data:`Limit`, :data:`NextToken`).

Tests and the local stack replace :func:`provide_services` through the resolver's
``dependency_overrides`` or :func:`use_services`.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from facegate.errors import Unauthorized
from facegate.usecases.context import Principal, Services

_lock = threading.Lock()
_services: Services | None = None


def use_services(services: Services | None) -> None:
    """Install the process-wide services (the composition root calls this; None resets)."""
    global _services
    with _lock:
        _services = services


def provide_services() -> Services:
    """The process-wide services, built from the environment on first use (once per warm instance)."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                from facegate.runtime import build_services

                _services = build_services()
    return _services


def _claim_list(value: Any) -> frozenset[str]:
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value)
    text = str(value or "").strip().strip("[]")
    return frozenset(item for item in text.replace(",", " ").split() if item)


def jwt_principal(request: Request) -> Principal:
    """The admin or host behind the request, from the claims API Gateway's JWT authorizer verified.

    API Gateway rejects missing or invalid tokens before the function runs; this check is defence
    in depth for an event without claims.
    """
    event: Any = request.resolved_event
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    subject = claims.get("sub")
    if not subject:
        raise Unauthorized("a valid bearer token is required", code="unauthorized")
    return Principal(
        subject=str(subject),
        groups=_claim_list(claims.get("cognito:groups")),
        site_ids=_claim_list(claims.get("custom:site_ids")),
        email=str(claims["email"]) if claims.get("email") else None,
        name=str(claims["name"])[:100] if claims.get("name") else None,
    )


def source_ip(request: Request) -> str:
    """The caller's IP as API Gateway saw it ("unknown" when absent)."""
    return source_ip_of(request.resolved_event)


def source_ip_of(event: Any) -> str:
    """The caller's IP in a raw payload-v2 event ("unknown" when absent)."""
    http = ((event or {}).get("requestContext") or {}).get("http") or {}
    return str(http.get("sourceIp") or "unknown")


ServicesDep = Annotated[Services, Depends(provide_services)]
"""A route parameter: the services of this process."""
ActorDep = Annotated[Principal, Depends(jwt_principal)]
"""A route parameter: the admin or host calling (Cognito JWT)."""
SourceDep = Annotated[str, Depends(source_ip)]
"""A route parameter: the caller's IP address."""
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""A path parameter naming a site, door, terminal or invite."""
Limit = Annotated[int, Query(ge=1, le=100, description="items per page")]
"""A list route's page size query parameter (items)."""
NextToken = Annotated[str | None, Query(max_length=512, description="from the previous page")]
"""A list route's cursor query parameter (the ``next_token`` of the previous page)."""

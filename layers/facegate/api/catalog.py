"""Every router of the API in one place: the OpenAPI document and the pages function are built from it.

Functions import their own route modules only (through ``functions/<name>/app.py``); this module imports all
of them, so only the pages function (which serves ``/openapi.json``) and the tools pay for every route.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from facegate.api.app import build_resolver
from facegate.api.openapi import document_json, document_of
from facegate.api.routes import door, hosts, invites, pages, pairing, sites, visitor

ALL_ROUTERS: tuple[Router, ...] = (
    sites.router,
    hosts.router,
    invites.router,
    visitor.router,
    door.router,
    pairing.router,
    pages.router,
)


def pages_resolver() -> APIGatewayHttpResolver:
    """The pages function's resolver: the visitor, kiosk and console pages, their assets and ``/openapi.json``."""
    resolver = build_resolver(pages.router)
    resolver.get("/openapi.json", include_in_schema=False)(_serve_openapi)
    return resolver


def _serve_openapi() -> Response[str]:
    """The OpenAPI 3.1 document of the whole API."""
    return Response(status_code=200, content_type="application/json", body=openapi_json())


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route as a dict (built once per process)."""
    return document_of(build_resolver(*ALL_ROUTERS))


def openapi_json() -> str:
    """The document as stable, pretty JSON text (what ``openapi.json`` in the repository holds)."""
    return document_json(openapi_document())

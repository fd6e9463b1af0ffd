"""Public routes: the OpenAPI document, the visitor page, the kiosk page and their static assets.

The pages hold no data: the visitor page reads everything through the token-authenticated API,
the kiosk page signs requests with credentials the operator types in.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from facegate.api.errors import error_response

router = Router()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "X-Frame-Options": "DENY",
}


def _web_file(*parts: str) -> bytes | None:
    resource = resources.files("facegate").joinpath("web", *parts)
    return resource.read_bytes() if resource.is_file() else None


def _page(name: str) -> Response[str]:
    html = _web_file(name)
    if html is None:
        return error_response(404, "not_found", "page not found")
    headers = {**PAGE_HEADERS, "Cache-Control": "no-store"}
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html.decode(), headers=headers)


@router.get("/register/<token>", tags=["pages"], include_in_schema=False)
def visitor_page(token: Annotated[str, Path(max_length=128)]) -> Response[str]:
    """The visitor's mobile page (reads the token from its own URL)."""
    return _page("register.html")


@router.get("/kiosk", tags=["pages"], include_in_schema=False)
def kiosk_page() -> Response[str]:
    """The door kiosk page (camera + signed verify requests)."""
    return _page("kiosk.html")


@router.get("/static/<name>", tags=["pages"], include_in_schema=False)
def static_asset(name: Annotated[str, Path(max_length=64)]) -> Response[str | bytes]:
    """A static asset of the pages (flat folder, known types only)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    content_type = STATIC_TYPES.get(suffix)
    data = _web_file("static", name) if STATIC_NAME.match(name) and content_type else None
    if data is None or content_type is None:
        missing: Response[Any] = error_response(404, "not_found", "asset not found")
        return missing
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    body: str | bytes = data.decode() if content_type.startswith(("text/", "application/json", "image/svg")) else data
    return Response(status_code=200, content_type=content_type, body=body, headers=headers)

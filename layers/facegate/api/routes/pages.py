"""Public routes: the OpenAPI document, the visitor page, the kiosk page, the console and their static assets.

The pages hold no data: the visitor page reads everything through the token-authenticated API,
the kiosk page signs requests with credentials it was paired with (or the operator typed in), the console
logs in with the OAuth 2.0 authorization-code flow + PKCE and calls the API with the ID token.
``/`` redirects to the console.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.api.errors import error_response
from facegate.settings import Settings

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


@cache
def _settings() -> Settings:
    return Settings.from_env()


def _origin() -> str:
    """The public origin of the pages: the configured base URL, else this request's own host."""
    settings = _settings()
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    return f"https://{event.request_context.domain_name}"


def _auth_origin(url: str) -> str | None:
    match = re.match(r"^(https?://[^/?#\s]+)", url)
    return match.group(1) if match else None


@router.get("/", tags=["pages"], include_in_schema=False)
def root_page() -> Response[str]:
    """``/`` sends people to the console (the kiosk and visitor pages have their own addresses)."""
    headers = {"Location": "/console", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response(status_code=302, content_type="text/plain; charset=utf-8", body="", headers=headers)


@router.get("/console", tags=["pages"], include_in_schema=False)
def console_page() -> Response[str]:
    """The host and admin console (logs in with the authorization-code flow + PKCE, then calls the API)."""
    page = _page("console.html")
    auth_url = _settings().console_auth_url
    auth_origin = _auth_origin(auth_url) if auth_url else None
    if page.status_code == 200 and auth_origin and auth_origin != _origin():
        policy = CONTENT_SECURITY_POLICY.replace("connect-src 'self'", f"connect-src 'self' {auth_origin}")
        page.headers["Content-Security-Policy"] = policy
    return page


@router.get("/console/config.json", tags=["pages"], include_in_schema=False)
def console_config() -> Response[str]:
    """The console's login settings: authorization, token, revocation and logout endpoints, client id,
    redirect URI. ``login`` is ``"oauth"``, or ``"none"`` where the stack has no hosted login configured."""
    settings = _settings()
    origin = _origin()
    redirect_uri = settings.console_redirect_uri or f"{origin}/console"
    config: dict[str, Any] = {"login": "none", "api_url": origin}
    if settings.console_auth_url and settings.console_client_id:
        base = settings.console_auth_url.rstrip("/")
        config = {
            "login": "oauth",
            "api_url": origin,
            "authorize_url": f"{base}/oauth2/authorize",
            "token_url": f"{base}/oauth2/token",
            "revoke_url": f"{base}/oauth2/revoke",
            "logout_url": f"{base}/logout",
            "client_id": settings.console_client_id,
            "redirect_uri": redirect_uri,
            "logout_redirect_uri": settings.console_logout_uri or redirect_uri,
            "scope": "openid email profile",
        }
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response(status_code=200, content_type="application/json", body=json.dumps(config), headers=headers)


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

"""The console's pages through the ServePages routes in-process: ``/`` redirects, ``/console`` is the page with
its security headers (the authorization server's origin allowed for the token requests only), and
``/console/config.json`` is built from Settings (Cognito hosted UI on AWS, nothing when not configured)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from facegate.api.app import build_resolver
from facegate.api.routes import pages
from facegate_tools.local.inprocess import InProcessApi

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

COGNITO = "https://facegate-demo.auth.ap-northeast-2.amazoncognito.com"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def configure(**environment: str) -> InProcessApi:
        for name in (
            "FACEGATE_CONSOLE_AUTH_URL",
            "FACEGATE_CONSOLE_CLIENT_ID",
            "FACEGATE_CONSOLE_REDIRECT_URI",
            "FACEGATE_CONSOLE_LOGOUT_URI",
            "FACEGATE_PUBLIC_BASE_URL",
        ):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        pages._settings.cache_clear()
        return InProcessApi(build_resolver(pages.router))

    yield configure
    pages._settings.cache_clear()


def test_the_root_redirects_to_the_console(api: Any) -> None:
    # Given the pages
    # When someone opens the stack's root address
    response = api().request("GET", "/")
    # Then they are sent to the console
    assert response.status == 302 and response.headers["location"] == "/console"


def test_config_on_aws_names_the_hosted_ui_endpoints(api: Any) -> None:
    # Given the template's settings with a user pool domain and a callback URL
    pages_api = api(
        FACEGATE_CONSOLE_AUTH_URL=COGNITO,
        FACEGATE_CONSOLE_CLIENT_ID="client123",
        FACEGATE_CONSOLE_REDIRECT_URI="https://doors.example.org/console",
        FACEGATE_PUBLIC_BASE_URL="https://doors.example.org",
    )
    # When the console reads its config
    response = pages_api.request("GET", "/console/config.json")
    # Then it names Cognito's authorize, token, revoke and logout endpoints, the public client and the redirect
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "login": "oauth",
        "api_url": "https://doors.example.org",
        "authorize_url": f"{COGNITO}/oauth2/authorize",
        "token_url": f"{COGNITO}/oauth2/token",
        "revoke_url": f"{COGNITO}/oauth2/revoke",
        "logout_url": f"{COGNITO}/logout",
        "client_id": "client123",
        "redirect_uri": "https://doors.example.org/console",
        "logout_redirect_uri": "https://doors.example.org/console",
        "scope": "openid email profile",
    }


def test_the_console_page_may_call_the_token_endpoint_and_nothing_else(api: Any) -> None:
    # Given a stack with the hosted UI on another origin
    pages_api = api(FACEGATE_CONSOLE_AUTH_URL=COGNITO, FACEGATE_CONSOLE_CLIENT_ID="client123")
    # When the console page is served
    response = pages_api.request("GET", "/console")
    # Then it is the console, not cacheable or frameable, and its scripts may reach only the API and Cognito
    assert response.status == 200 and b'src="/static/console.js"' in response.body
    policy = response.headers["content-security-policy"]
    assert f"connect-src 'self' {COGNITO};" in policy
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["cache-control"] == "no-store" and response.headers["x-frame-options"] == "DENY"


def test_without_a_login_domain_the_console_says_so(api: Any) -> None:
    # Given a stack deployed without AuthDomainPrefix / ConsoleCallbackUrl
    pages_api = api(FACEGATE_CONSOLE_CLIENT_ID="client123")
    # When the console reads its config, Then there is no login to offer, and the page keeps the strict policy
    assert pages_api.request("GET", "/console/config.json").json()["login"] == "none"
    policy = pages_api.request("GET", "/console").headers["content-security-policy"]
    assert "connect-src 'self';" in policy


def test_the_console_assets_are_served(api: Any) -> None:
    # Given the pages
    pages_api = api()
    # When the console's own scripts and stylesheet are requested, Then they are served with their types
    for name, kind in (("console.js", "text/javascript"), ("console-i18n.js", "text/javascript"),
                       ("console.css", "text/css"), ("pairing.js", "text/javascript")):  # fmt: skip
        response = pages_api.request("GET", f"/static/{name}")
        assert response.status == 200 and response.headers["content-type"].startswith(kind), name

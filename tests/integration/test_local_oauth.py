"""The local stack's login for the console: authorization code + PKCE against the emulated user pool (moto),
ID tokens from the stack's issuer, refresh, and the gateway wiring (``/_local/*``, never in the template)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import pytest
from moto import mock_aws

from facegate_tools.local import aws
from facegate_tools.local.gateway import LocalGateway, LocalIssuer
from facegate_tools.local.inprocess import ApiResponse
from facegate_tools.local.oauth import LocalOAuth, s256

REPO = Path(__file__).resolve().parents[2]
CONSOLE = "http://127.0.0.1:8000/console"
PASSWORD = "Fg-Correct-Horse-42a"
FORM = {"content-type": "application/x-www-form-urlencoded"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Pool:
    """An emulated user pool with an admin and a host, and the local authorization server over it."""

    def __init__(self) -> None:
        self.cognito = boto3.client("cognito-idp", region_name="us-east-1")
        self.pool_id = self.cognito.create_user_pool(
            PoolName="console-test",
            UsernameAttributes=["email"],
            Schema=[{"Name": "site_ids", "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
        self.client_id = self.cognito.create_user_pool_client(
            UserPoolId=self.pool_id, ClientName="console", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        for group in ("admins", "hosts"):
            self.cognito.create_group(UserPoolId=self.pool_id, GroupName=group)
        self.add("admin@example.org", "admins", None, PASSWORD)
        self.add("host@example.org", "hosts", ["site_a", "site_b"], PASSWORD)
        self.issuer = LocalIssuer(f"https://cognito-idp.us-east-1.amazonaws.com/{self.pool_id}", self.client_id)
        self.clock = Clock()
        self.oauth = LocalOAuth(
            self.issuer, self.cognito, self.pool_id, frozenset({CONSOLE}), id_token_ttl_seconds=300, clock=self.clock
        )

    def add(self, email: str, group: str, sites: list[str] | None, password: str, permanent: bool = True) -> None:
        attributes = [{"Name": "email", "Value": email}, {"Name": "name", "Value": email.split("@")[0].title()}]
        if sites is not None:
            attributes.append({"Name": "custom:site_ids", "Value": ",".join(sites)})
        extra: dict[str, Any] = {} if permanent else {"TemporaryPassword": password}
        self.cognito.admin_create_user(
            UserPoolId=self.pool_id, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS", **extra
        )
        if permanent:
            self.cognito.admin_set_user_password(
                UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True
            )
        self.cognito.admin_add_user_to_group(UserPoolId=self.pool_id, Username=email, GroupName=group)

    def authorize_params(self, verifier: str, **overrides: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": CONSOLE,
            "state": "state-123",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "scope": "openid email profile",
        }
        params.update(overrides)
        return params

    def post(self, path: str, form: dict[str, str]) -> ApiResponse:
        answer = self.oauth.handle("POST", path, FORM, urlencode(form).encode())
        assert answer is not None
        return answer

    def login(self, username: str, password: str, verifier: str, **extra: str) -> ApiResponse:
        return self.post("/_local/oauth2/authorize", {**self.authorize_params(verifier), "username": username,
                                                        "password": password, **extra})  # fmt: skip

    def code(self, username: str = "host@example.org", verifier: str | None = None) -> tuple[str, str]:
        verifier = verifier or secrets.token_urlsafe(48)
        answer = self.login(username, PASSWORD, verifier)
        assert answer.status == 302, answer.body[:300]
        query = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
        return query["code"], verifier

    def exchange(self, code: str, verifier: str) -> ApiResponse:
        form = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "code": code,
            "redirect_uri": CONSOLE,
            "code_verifier": verifier,
        }
        return self.post("/_local/oauth2/token", form)

    def refresh(self, token: str) -> ApiResponse:
        form = {"grant_type": "refresh_token", "client_id": self.client_id, "refresh_token": token}
        return self.post("/_local/oauth2/token", form)


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


@pytest.fixture
def pool() -> Iterator[Pool]:
    with mock_aws():
        yield Pool()


def test_the_login_form_then_the_code_then_tokens_for_the_pool_user(pool: Pool) -> None:
    # Given the console's authorization request with a PKCE S256 challenge, in Korean
    verifier = secrets.token_urlsafe(48)
    query = urlencode(pool.authorize_params(verifier, lang="ko"))
    # When the browser opens it
    page = pool.oauth.handle("GET", f"/_local/oauth2/authorize?{query}", {}, b"")
    # Then it is a Korean login form that cannot be framed
    assert page is not None and page.status == 200
    assert '<html lang="ko">' in page.body.decode() and 'name="password"' in page.body.decode()
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # When the host signs in with the right password
    answer = pool.login("host@example.org", PASSWORD, verifier)
    # Then the browser goes back to the console with a code and the same state
    assert answer.status == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CONSOLE
    query_back = dict(parse_qsl(location.query))
    assert query_back["state"] == "state-123"
    # And the code with the verifier gives an ID token of the pool's issuer with the user's groups and sites
    tokens = pool.exchange(query_back["code"], verifier)
    assert tokens.status == 200, tokens.body
    body = tokens.json()
    assert set(body) >= {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    claims = pool.issuer.verifier().claims(body["id_token"], now=pool.clock.now)
    assert claims is not None
    assert claims["email"] == "host@example.org" and claims["cognito:groups"] == ["hosts"]
    assert claims["custom:site_ids"] == "site_a,site_b" and claims["name"] == "Host"
    assert claims["token_use"] == "id" and claims["exp"] - claims["iat"] == 300


def test_the_code_needs_the_right_verifier_and_is_single_use(pool: Pool) -> None:
    # Given a code issued for a challenge
    code, verifier = pool.code()
    # When it is exchanged with another verifier, Then it is refused
    assert pool.exchange(code, secrets.token_urlsafe(48)).json() == {"error": "invalid_grant"}
    # And the failed attempt used it up (a code is single use whatever happens)
    assert pool.exchange(code, verifier).json() == {"error": "invalid_grant"}
    # When a fresh code is exchanged twice with the right verifier, Then only the first works
    code, verifier = pool.code()
    assert pool.exchange(code, verifier).status == 200
    assert pool.exchange(code, verifier).status == 400


def test_a_code_expires_after_a_minute(pool: Pool) -> None:
    # Given a code
    code, verifier = pool.code()
    # When it is exchanged 61 seconds later, Then it is refused
    pool.clock.now += 61
    assert pool.exchange(code, verifier).json() == {"error": "invalid_grant"}


def test_refresh_gives_a_fresh_id_token_until_the_user_is_disabled(pool: Pool) -> None:
    # Given a signed-in host whose ID token has expired
    code, verifier = pool.code()
    first = pool.exchange(code, verifier).json()
    pool.clock.now += 301
    assert pool.issuer.verifier().claims(first["id_token"], now=pool.clock.now) is None
    # When the console refreshes with the refresh token
    refreshed = pool.refresh(first["refresh_token"])
    # Then a new, valid ID token comes back (the session outlives the ID token's lifetime)
    assert refreshed.status == 200
    claims = pool.issuer.verifier().claims(refreshed.json()["id_token"], now=pool.clock.now)
    assert claims is not None and claims["email"] == "host@example.org"
    # When an admin disables the host, Then the refresh token no longer works
    pool.cognito.admin_disable_user(UserPoolId=pool.pool_id, Username="host@example.org")
    assert pool.refresh(first["refresh_token"]).json() == {"error": "invalid_grant"}


def test_a_revoked_or_unknown_refresh_token_is_refused(pool: Pool) -> None:
    # Given a refresh token
    code, verifier = pool.code("admin@example.org")
    refresh = pool.exchange(code, verifier).json()["refresh_token"]
    # When the console revokes it at sign-out
    revoked = pool.post("/_local/oauth2/revoke", {"client_id": pool.client_id, "token": refresh})
    # Then it is gone, like any token the server never issued
    assert revoked.status == 200
    assert pool.refresh(refresh).json() == {"error": "invalid_grant"}
    assert pool.refresh("made-up").json() == {"error": "invalid_grant"}


def test_wrong_passwords_and_unknown_users_get_the_form_again_without_a_code(pool: Pool) -> None:
    # Given a valid authorization request
    verifier = secrets.token_urlsafe(48)
    for username, password in (("host@example.org", "Wrong-password-1"), ("nobody@example.org", PASSWORD)):
        # When someone signs in with a wrong password or an unknown e-mail
        answer = pool.login(username, password, verifier)
        # Then the same message for both, and no redirect
        assert answer.status == 401 and "location" not in answer.headers
        assert "not correct" in answer.body.decode()


def test_requests_for_other_clients_redirects_or_without_pkce_are_refused_without_redirect(pool: Pool) -> None:
    verifier = secrets.token_urlsafe(48)
    for overrides in (
        {"client_id": "someone-else"},
        {"redirect_uri": "https://evil.example/console"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"response_type": "token"},
    ):
        # Given an authorization request that is wrong in one way
        query = urlencode(pool.authorize_params(verifier, **overrides))
        # When it is opened or submitted with the right password
        page = pool.oauth.handle("GET", f"/_local/oauth2/authorize?{query}", {}, b"")
        submitted = pool.login("host@example.org", PASSWORD, verifier, **overrides)
        # Then an error page, never a form that would send a code anywhere
        assert page is not None and page.status == 400 and 'name="password"' not in page.body.decode(), overrides
        if overrides.get("response_type") != "token":
            assert submitted.status == 400 and "location" not in submitted.headers, overrides


def test_a_temporary_password_must_be_replaced_before_the_code(pool: Pool) -> None:
    # Given a host created by an admin with a temporary password
    pool.add("new@example.org", "hosts", ["site_a"], "Temp-Password-123", permanent=False)
    verifier = secrets.token_urlsafe(48)
    # When they sign in with it
    first = pool.login("new@example.org", "Temp-Password-123", verifier)
    # Then they are asked for a new password, and no code yet
    assert first.status == 200 and 'name="new_password"' in first.body.decode()
    # When they choose one
    second = pool.login("new@example.org", "Temp-Password-123", verifier, new_password="Own-Password-456x")
    # Then they are signed in, and the new password works from now on
    assert second.status == 302 and "code=" in second.headers["location"]
    assert pool.login("new@example.org", "Own-Password-456x", verifier).status == 302


def test_logout_redirects_only_to_a_registered_address(pool: Pool) -> None:
    # Given the logout endpoint
    good = pool.oauth.handle("GET", f"/_local/logout?{urlencode({'client_id': pool.client_id, 'logout_uri': CONSOLE})}",
                             {}, b"")  # fmt: skip
    bad = pool.oauth.handle(
        "GET", f"/_local/logout?{urlencode({'client_id': pool.client_id, 'logout_uri': 'https://evil.example/'})}",
        {}, b"",
    )  # fmt: skip
    # Then it sends the browser back to the console only
    assert good is not None and good.status == 302 and good.headers["location"] == CONSOLE
    assert bad is not None and bad.status == 400 and "location" not in bad.headers


def test_the_gateway_serves_the_local_routes_and_the_template_never_declares_them(pool: Pool) -> None:
    # Given the gateway with the local authorization server and no template routes
    gateway = LocalGateway([], pool.issuer.verifier(), local=pool.oauth.handle)
    # When the token endpoint is called through it with a bad grant, Then the OAuth error answers
    form = urlencode({"grant_type": "password", "client_id": pool.client_id}).encode()
    answer = gateway.handle("POST", "/_local/oauth2/token", FORM, form, "127.0.0.1")
    assert answer.status == 400 and answer.json() == {"error": "unsupported_grant_type"}
    # And unknown /_local paths are 404, not another route
    assert gateway.handle("GET", "/_local/secrets", {}, b"", "127.0.0.1").status == 404
    # And template.yaml deploys no /_local route
    template = aws.load_template(REPO / "template.yaml")
    assert not [route for route in aws.routes(template) if route.path.startswith("/_local")]

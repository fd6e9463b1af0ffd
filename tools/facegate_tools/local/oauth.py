"""The local stack's stand-in for the Cognito hosted UI: the OAuth 2.0 authorization-code flow with PKCE.

On AWS the console logs in through the user pool domain (``/oauth2/authorize``, ``/oauth2/token``,
``/logout``). Locally the same endpoints live under ``<origin>/_local`` and behave the same way for the
console:

* ``GET /_local/oauth2/authorize`` — a small login form (ko/en, ``lang=``), only for the known client id,
  a registered redirect URI and a PKCE ``S256`` challenge;
* ``POST /_local/oauth2/authorize`` — checks the password against the emulated user pool (moto's
  ``InitiateAuth``, so disabled users and wrong passwords fail as on AWS; a temporary password asks for a
  new one), then redirects to the redirect URI with a single-use ``code`` (valid 60 s) and the ``state``;
* ``POST /_local/oauth2/token`` — ``grant_type=authorization_code`` (the ``code_verifier`` must hash to the
  challenge) or ``grant_type=refresh_token``; answers ID tokens signed by the stack's
  :class:`~facegate_tools.local.gateway.LocalIssuer` with the user's current groups and sites;
* ``POST /_local/oauth2/revoke`` — forgets a refresh token; ``GET /_local/logout`` — redirects to a
  registered logout URI.

None of these routes is in ``template.yaml``: they exist only in the local gateway.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from facegate_tools.local.gateway import LocalIssuer
from facegate_tools.local.inprocess import ApiResponse

PREFIX = "/_local"
SCOPE = "openid email profile"
CODE_TTL_SECONDS = 60.0
REFRESH_TTL_SECONDS = 30 * 86400.0
"""The template's app client keeps refresh tokens 30 days."""
PKCE_VALUE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
FORM_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
TEXT = {
    "en": {
        "title": "Sign in to the facegate console",
        "username": "E-mail",
        "password": "Password",
        "new_password": "New password (at least 12 characters, upper and lower case, a digit)",
        "new_password_intro": "This is a temporary password. Choose your own password to continue.",
        "submit": "Sign in",
        "submit_new": "Set password and sign in",
        "failed": "The e-mail or password is not correct, or the account is disabled.",
        "weak": "That password does not meet the policy. Try a longer one with upper and lower case and a digit.",
        "bad_request": "This sign-in link is not valid. Start again from the console.",
        "local": "Local development sign-in (the emulated user pool of facegate serve).",
        "other": "한국어",
    },
    "ko": {
        "title": "facegate 콘솔 로그인",
        "username": "이메일",
        "password": "비밀번호",
        "new_password": "새 비밀번호 (12자 이상, 대문자·소문자·숫자 포함)",
        "new_password_intro": "임시 비밀번호입니다. 계속하려면 새 비밀번호를 정하세요.",
        "submit": "로그인",
        "submit_new": "비밀번호 설정 후 로그인",
        "failed": "이메일 또는 비밀번호가 맞지 않거나 사용이 중지된 계정입니다.",
        "weak": "비밀번호 규칙에 맞지 않습니다. 대문자·소문자·숫자를 넣어 더 길게 정하세요.",
        "bad_request": "올바른 로그인 링크가 아닙니다. 콘솔에서 다시 시작하세요.",
        "local": "로컬 개발용 로그인 (facegate serve의 에뮬레이션 사용자 풀).",
        "other": "English",
    },
}
AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "lang")


@dataclass(frozen=True, slots=True)
class PoolUser:
    """A user of the emulated pool as the ID token describes them."""

    username: str
    sub: str
    email: str
    name: str | None
    groups: list[str]
    site_ids: list[str] | None


@dataclass(frozen=True, slots=True)
class _Grant:
    username: str
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float


def s256(verifier: str) -> str:
    """The PKCE ``S256`` challenge of ``verifier`` (base64url of its SHA-256, no padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LocalOAuth:
    """The authorization server of the local stack (state in memory only: codes and refresh tokens die
    with the process, like the issuer's key)."""

    def __init__(
        self,
        issuer: LocalIssuer,
        cognito: Any,
        pool_id: str,
        redirect_uris: frozenset[str],
        *,
        id_token_ttl_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``cognito`` is a boto3 ``cognito-idp`` client of the emulator; ``redirect_uris`` the callback and
        logout URLs the app client allows (the template's parameters on AWS)."""
        self.issuer = issuer
        self.client_id = issuer.audience
        self.cognito = cognito
        self.pool_id = pool_id
        self.redirect_uris = redirect_uris
        self.id_token_ttl_seconds = id_token_ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, tuple[str, float]] = {}

    # --- dispatch --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> ApiResponse | None:
        """Answer a request under :data:`PREFIX`, or None when the path is not one of these endpoints."""
        split = urlsplit(target)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        method = method.upper()
        if path == f"{PREFIX}/oauth2/authorize" and method == "GET":
            return self._authorize_form(query)
        if path == f"{PREFIX}/oauth2/authorize" and method == "POST":
            return self._authorize_submit(_form(headers, body))
        if path == f"{PREFIX}/oauth2/token" and method == "POST":
            return self._token(_form(headers, body))
        if path == f"{PREFIX}/oauth2/revoke" and method == "POST":
            return self._revoke(_form(headers, body))
        if path == f"{PREFIX}/logout" and method == "GET":
            return self._logout(query)
        if path.startswith(f"{PREFIX}/"):
            return _json(404, {"error": {"code": "not_found", "message": "no such route"}})
        return None

    # --- authorize -------------------------------------------------------------------------------

    def _valid_request(self, params: Mapping[str, str]) -> bool:
        return (
            params.get("client_id") == self.client_id
            and params.get("redirect_uri", "") in self.redirect_uris
            and params.get("code_challenge_method") == "S256"
            and bool(PKCE_VALUE.match(params.get("code_challenge", "")))
            and params.get("response_type", "code") == "code"
            and len(params.get("state", "")) <= 512
        )

    def _authorize_form(self, query: Mapping[str, str]) -> ApiResponse:
        if query.get("response_type") != "code" or not self._valid_request(query):
            return self._page(query, error="bad_request", status=400, form=False)
        return self._page(query)

    def _authorize_submit(self, form: Mapping[str, str]) -> ApiResponse:
        if not self._valid_request(form):
            return self._page(form, error="bad_request", status=400, form=False)
        username = form.get("username", "").strip()[:254]
        password = form.get("password", "")[:256]
        try:
            result = self.cognito.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
            if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
                new_password = form.get("new_password", "")
                if not new_password:
                    return self._page(form, username=username, new_password=True, status=200)
                self.cognito.respond_to_auth_challenge(
                    ClientId=self.client_id,
                    ChallengeName="NEW_PASSWORD_REQUIRED",
                    Session=result["Session"],
                    ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": new_password[:256]},
                )
            elif "AuthenticationResult" not in result:
                return self._page(form, username=username, error="failed", status=401)
        except self.cognito.exceptions.InvalidPasswordException:
            return self._page(form, username=username, new_password=True, error="weak", status=400)
        except (self.cognito.exceptions.NotAuthorizedException, self.cognito.exceptions.UserNotFoundException):
            return self._page(form, username=username, error="failed", status=401)
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            username=username,
            client_id=self.client_id,
            redirect_uri=form["redirect_uri"],
            challenge=form["code_challenge"],
            expires=self._clock() + CODE_TTL_SECONDS,
        )
        with self._lock:
            self._codes[code] = grant
        location = _with_query(form["redirect_uri"], {"code": code, "state": form.get("state", "")})
        return ApiResponse(status=302, headers={"location": location, "cache-control": "no-store"}, body=b"")

    # --- token -----------------------------------------------------------------------------------

    def _token(self, form: Mapping[str, str]) -> ApiResponse:
        if form.get("client_id") != self.client_id:
            return _oauth_error(401, "invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                grant = self._codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if (
                grant is None
                or grant.expires <= self._clock()
                or grant.redirect_uri != form.get("redirect_uri")
                or not PKCE_VALUE.match(verifier)
                or not secrets.compare_digest(s256(verifier), grant.challenge)
            ):
                return _oauth_error(400, "invalid_grant")
            user = self.user(grant.username)
            if user is None:
                return _oauth_error(400, "invalid_grant")
            return _json(200, {**self._tokens(user), "refresh_token": self.issue_refresh_token(grant.username)})
        if grant_type == "refresh_token":
            with self._lock:
                entry = self._refresh.get(form.get("refresh_token", ""))
            if entry is None or entry[1] <= self._clock():
                return _oauth_error(400, "invalid_grant")
            user = self.user(entry[0])
            if user is None:
                return _oauth_error(400, "invalid_grant")
            return _json(200, self._tokens(user))
        return _oauth_error(400, "unsupported_grant_type")

    def _tokens(self, user: PoolUser) -> dict[str, Any]:
        now = self._clock()
        extra = {"cognito:username": user.username}
        if user.name:
            extra["name"] = user.name
        id_token, access_token = (
            self.issuer.token(
                user.sub,
                user.email,
                user.groups,
                user.site_ids,
                ttl_seconds=self.id_token_ttl_seconds,
                extra=claims,
                now=now,
            )
            for claims in (extra, {**extra, "token_use": "access", "scope": SCOPE})
        )
        return {
            "id_token": id_token,
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.id_token_ttl_seconds,
        }

    def issue_refresh_token(self, username: str) -> str:
        """A refresh token for ``username`` without a login (the local stack's own admin session in
        ``local.json``, which clients renew at the token endpoint instead of dying after an hour)."""
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[refresh] = (username, self._clock() + REFRESH_TTL_SECONDS)
        return refresh

    def _revoke(self, form: Mapping[str, str]) -> ApiResponse:
        if form.get("client_id") != self.client_id:
            return _oauth_error(401, "invalid_client")
        with self._lock:
            self._refresh.pop(form.get("token", ""), None)
        return ApiResponse(status=200, headers={"cache-control": "no-store"}, body=b"")

    def _logout(self, query: Mapping[str, str]) -> ApiResponse:
        target = query.get("logout_uri", "")
        if query.get("client_id") != self.client_id or target not in self.redirect_uris:
            return self._page(query, error="bad_request", status=400, form=False)
        return ApiResponse(status=302, headers={"location": target, "cache-control": "no-store"}, body=b"")

    # --- the pool --------------------------------------------------------------------------------

    def user(self, username: str) -> PoolUser | None:
        """The enabled user ``username`` (e-mail) with their groups and sites, else None."""
        try:
            found = self.cognito.admin_get_user(UserPoolId=self.pool_id, Username=username)
        except self.cognito.exceptions.UserNotFoundException:
            return None
        if not found.get("Enabled", True):
            return None
        attributes = {item["Name"]: item["Value"] for item in found.get("UserAttributes", [])}
        groups = self.cognito.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=username)["Groups"]
        raw_sites = attributes.get("custom:site_ids")
        return PoolUser(
            username=found["Username"],
            sub=attributes.get("sub", found["Username"]),
            email=attributes.get("email", username),
            name=attributes.get("name"),
            groups=sorted(group["GroupName"] for group in groups),
            site_ids=None if raw_sites is None else [site for site in raw_sites.split(",") if site],
        )

    # --- the login page --------------------------------------------------------------------------

    def _page(
        self,
        params: Mapping[str, str],
        *,
        username: str = "",
        error: str | None = None,
        new_password: bool = False,
        status: int = 200,
        form: bool = True,
    ) -> ApiResponse:
        lang = "ko" if params.get("lang") == "ko" else "en"
        text = TEXT[lang]
        other = "en" if lang == "ko" else "ko"
        switch = {key: params[key] for key in AUTHORIZE_FIELDS if key in params} | {"lang": other}
        switch.setdefault("response_type", "code")
        switch_url = f"{PREFIX}/oauth2/authorize?{urlencode({'response_type': 'code', **switch})}"
        parts = [
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="robots" content="noindex, nofollow">',
            f"<title>{html.escape(text['title'])}</title>",
            '<link rel="stylesheet" href="/static/app.css"><link rel="stylesheet" href="/static/console.css">',
            '</head><body class="page-login">',
            '<main id="main" class="login-main"><section class="card login-card">',
            f"<h1>{html.escape(text['title'])}</h1>",
            f'<p class="muted small">{html.escape(text["local"])}</p>',
        ]
        if error:
            parts.append(f'<p class="message error" role="alert">{html.escape(text[error])}</p>')
        if form:
            hidden = "".join(
                f'<input type="hidden" name="{key}" value="{html.escape(params.get(key, ""))}">'
                for key in AUTHORIZE_FIELDS
            )
            parts.append(f'<form method="post" action="{PREFIX}/oauth2/authorize" class="login-form">{hidden}')
            parts.append(
                '<div class="field"><label for="username">'
                f"{html.escape(text['username'])}</label>"
                '<input id="username" name="username" class="text-input" type="email" autocomplete="username" '
                f'required value="{html.escape(username)}"></div>'
                '<div class="field"><label for="password">'
                f"{html.escape(text['password'])}</label>"
                '<input id="password" name="password" class="text-input" type="password" '
                'autocomplete="current-password" required></div>'
            )
            if new_password:
                parts.append(
                    f'<p class="message warning">{html.escape(text["new_password_intro"])}</p>'
                    '<div class="field"><label for="new_password">'
                    f"{html.escape(text['new_password'])}</label>"
                    '<input id="new_password" name="new_password" class="text-input" type="password" '
                    'autocomplete="new-password" minlength="12" required></div>'
                )
            label = text["submit_new"] if new_password else text["submit"]
            parts.append(f'<button type="submit" class="button primary">{html.escape(label)}</button></form>')
        parts.append(
            f'<p class="login-lang"><a class="lang-switch" href="{html.escape(switch_url)}" lang="{other}">'
            f"{html.escape(text['other'])}</a></p></section></main></body></html>"
        )
        return ApiResponse(status=status, headers=dict(FORM_HEADERS), body="".join(parts).encode())


def _form(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    content_type = {key.lower(): value for key, value in headers.items()}.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded") or len(body) > 16_384:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _with_query(url: str, params: Mapping[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def _json(status: int, data: Any) -> ApiResponse:
    headers = {"content-type": "application/json", "cache-control": "no-store", "pragma": "no-cache"}
    return ApiResponse(status=status, headers=headers, body=json.dumps(data).encode())


def _oauth_error(status: int, error: str) -> ApiResponse:
    return _json(status, {"error": error})

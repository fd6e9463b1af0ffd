"""Who may call what: every route of ``template.yaml`` x every kind of wrong credential.

The matrix is generated from the route table (:func:`facegate_tools.local.aws.routes`): a route added to the
template is tested automatically. Routes are classified by their credential; a route that needs no
authorizer and is neither a visitor (``{token}``) nor a terminal route must be in :data:`PUBLIC`, else it is
expected to refuse anonymous calls with 401 (so a new unauthenticated route fails here).

Requests go through the local API gateway (:class:`facegate_tools.local.gateway.LocalGateway`, which verifies
RS256 JWTs like the Cognito authorizer, here against a test RSA key) into the real Lambda handlers
(``functions/*/app.py``), over moto and the real face engine.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from security_support import (
    GENUINE,
    TEST_SETTINGS,
    FakeClock,
    Harness,
    Terminal,
    aws_services,
    create_stores,
    direct_event,
    kms_key,
    lfw_images,
    moto_aws,
    multipart,
    real_engine,
    template_routes,
    user_pool,
)

from facegate.adapters.cognito import CognitoDirectory
from facegate.api.catalog import openapi_document
from facegate.domain.notice import CONSENT_VERSION
from facegate_tools.local.aws import TemplateRoute
from facegate_tools.local.inprocess import ApiResponse

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

ROUTES = template_routes()

PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/kiosk"),
    ("GET", "/register/{token}"),
    ("GET", "/static/{name}"),
    ("GET", "/"),
    ("GET", "/console"),
    ("GET", "/console/config.json"),
}
"""The allow-list of routes anyone may call: documents and pages that hold no data."""
PUBLIC_REDIRECTS = {("GET", "/")}
"""Public routes that answer with a redirect (``/`` sends people to the console)."""
TERMINAL_ROUTES = {("POST", "/doors/{door_id}/verify"), ("POST", "/doors/{door_id}/challenge")}
"""Routes authenticated by a terminal's HMAC request signature."""
HOST_ROUTES = {
    ("POST", "/sites/{site_id}/invites"),
    ("DELETE", "/invites/{invite_id}"),
    ("POST", "/invites/{invite_id}/email"),
    ("GET", "/me"),
    ("GET", "/sites"),
    ("GET", "/sites/{site_id}"),
    ("GET", "/sites/{site_id}/doors"),
    ("GET", "/sites/{site_id}/invites"),
    ("GET", "/invites/{invite_id}"),
}
"""JWT routes open to hosts of the site (and admins); every other JWT route is admin-only."""
SITELESS_HOST_ROUTES = {("GET", "/me"), ("GET", "/sites")}
"""Host routes that name no site: another site's host gets an answer about their own sites only."""
PAIRING_ROUTES = {("POST", "/pair")}
"""Routes whose only credential is a one-time kiosk pairing code in the body."""

EXPIRED_VISITOR = {
    ("GET", "/register/{token}/notice"): (200, None),
    ("POST", "/register/{token}/consent"): (410, "invite_expired"),
    ("POST", "/register/{token}/selfie"): (410, "invite_expired"),
    ("GET", "/register/{token}/status"): (200, None),
    ("DELETE", "/register/{token}"): (200, None),
}
"""An ended invite: nothing new may be given (consent, selfie); the visitor may still read the notice, see
the "expired" status and erase (a right that does not end with the invite)."""


def kind(route: TemplateRoute) -> str:
    """``public``, ``admin``, ``host``, ``visitor``, ``terminal``, ``pairing`` or ``unclassified``."""
    key = (route.method, route.path)
    if key in PUBLIC:
        return "public"
    if key in PAIRING_ROUTES:
        return "pairing"
    if route.auth == "jwt":
        return "host" if key in HOST_ROUTES else "admin"
    if key in TERMINAL_ROUTES:
        return "terminal"
    if "{token}" in route.path:
        return "visitor"
    return "unclassified"


def route_id(route: TemplateRoute) -> str:
    return f"{route.method} {route.path}"


# --------------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Tenant:
    """A site with a door and a terminal of that door."""

    site_id: str
    door_id: str
    terminal: Terminal

    @classmethod
    def create(cls, h: Harness, name: str) -> Tenant:
        site_id = h.create_site(name)
        door_id = h.create_door(site_id)["door_id"]
        return cls(site_id, door_id, h.create_terminal(site_id, [door_id]))


class World:
    """Two sites (``a``, ``b``), their doors and terminals, and invites in every state, behind the real handlers
    of ``h``: built by its constructor, from 4 LFW images (3 selfies and a door frame)."""

    def __init__(self, h: Harness, clock: FakeClock, images: list[bytes]) -> None:
        self.h, self.clock = h, clock
        self.selfies, self.frame = images[:3], images[3]
        self.a, self.b = Tenant.create(h, "Site A"), Tenant.create(h, "Site B")
        self.term_revoked = h.create_terminal(self.a.site_id, [self.a.door_id])
        assert h.admin("DELETE", f"/terminals/{self.term_revoked.terminal_id}").status == 200
        # an invite that ends in one hour, consented and enrolled; then two hours pass
        self.expired_token = self.enrolled_invite(hours=1)["token"]
        clock.advance(2 * 3600)
        self.active = self.enrolled_invite()
        self.invite_b = h.invite(self.b.site_id, [self.b.door_id])
        revoked = h.invite(self.a.site_id, [self.a.door_id])
        assert h.consent(revoked["token"]).status == 201
        assert h.admin("DELETE", f"/invites/{revoked['invite_id']}").status == 200
        self.revoked_token: str = revoked["token"]
        self.host_username = new_host(h, self.a.site_id, "first-host@example.com")
        self._ips = iter(range(1, 60_000))

    def enrolled_invite(self, hours: float = 4) -> dict[str, Any]:
        """A new invite of site A's door, consented and enrolled with the selfies."""
        invite = self.h.invite(self.a.site_id, [self.a.door_id], hours=hours)
        assert self.h.consent(invite["token"]).status == 201
        assert self.h.enroll(invite["token"], self.selfies).status == 201
        return invite

    def fresh_ip(self) -> str:
        """A new source address (invalid tokens are throttled per source; each probe gets its own)."""
        n = next(self._ips)
        return f"198.18.{n // 250}.{n % 250 + 1}"

    def fill(self, route: TemplateRoute, token: str | None = None, door_id: str | None = None) -> str:
        """The route's path with site A's ids (and ``token`` / ``door_id`` when given)."""
        values = {
            "site_id": self.a.site_id,
            "door_id": door_id or self.a.door_id,
            "terminal_id": self.a.terminal.terminal_id,
            "invite_id": self.active["invite_id"],
            "token": token or self.active["token"],
            "name": "app.css",
            "username": self.host_username,
        }
        return re.sub(r"\{([A-Za-z0-9_]+)\+?\}", lambda m: values.get(m.group(1), "x"), route.path)

    def body(self, route: TemplateRoute) -> tuple[bytes, dict[str, str]]:
        """A valid body for the route (so that only the credential decides the outcome)."""
        key = (route.method, route.path)
        now = self.clock()
        json_bodies: dict[tuple[str, str], Any] = {
            ("POST", "/sites"): {"name": "Annex", "timezone": "Asia/Seoul"},
            ("PATCH", "/sites/{site_id}"): {"security_level": "high"},
            ("POST", "/sites/{site_id}/doors"): {"name": "Side door"},
            ("POST", "/sites/{site_id}/terminals"): {"name": "kiosk 2", "door_ids": [self.a.door_id]},
            ("POST", "/sites/{site_id}/invites"): {
                "door_ids": [self.a.door_id],
                "valid_from": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "valid_until": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            ("POST", "/register/{token}/consent"): {"consent_version": CONSENT_VERSION, "accepted": True},
            ("POST", "/hosts"): {"email": "matrix-host@example.com", "name": "Matrix", "site_ids": [self.a.site_id]},
            ("POST", "/pair"): {"pairing_code": "AAAA-BBBB-CCCC"},
        }
        if key in json_bodies:
            import json

            return json.dumps(json_bodies[key]).encode(), {"content-type": "application/json"}
        if key == ("POST", "/register/{token}/selfie"):
            body, content_type = multipart(self.selfies, "image")
            return body, {"content-type": content_type}
        if key == ("POST", "/doors/{door_id}/challenge"):
            return b"", {}
        if key in TERMINAL_ROUTES:
            return self.frame, {"content-type": "image/jpeg"}
        return b"", {}

    def request(
        self,
        route: TemplateRoute,
        *,
        bearer: str | None = None,
        terminal: Terminal | None = None,
        token: str | None = None,
        door_id: str | None = None,
        timestamp: int | None = None,
    ) -> ApiResponse:
        """Call ``route`` with one credential: a bearer JWT, a terminal signature, or an invite token."""
        path = self.fill(route, token, door_id)
        body, headers = self.body(route)
        if terminal is not None:
            headers = self.h.signed_headers(
                terminal,
                path,
                body,
                method=route.method,
                content_type=headers.get("content-type", "application/octet-stream"),
                timestamp=timestamp,
            )
        return self.h.call(route.method, path, body=body, headers=headers, bearer=bearer, source_ip=self.fresh_ip())


def random_token() -> str:
    """A well-formed invite token that belongs to no invite."""
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def world(lfw_dev_dir: Path) -> Iterator[World]:
    engine = real_engine()
    images = lfw_images(lfw_dev_dir, GENUINE)
    with moto_aws() as clients:
        settings = create_stores(clients, TEST_SETTINGS)
        settings = settings.with_overrides(kms_key_id=kms_key(clients))
        clock = FakeClock()
        services = aws_services(clients, settings, lambda: engine, clock)
        services.directory = CognitoDirectory(clients_cognito(), matrix_pool())
        harness = Harness(default=services, clock=clock)
        yield World(harness, clock, images)
        harness.close()


def clients_cognito() -> Any:
    import boto3

    return boto3.client("cognito-idp", region_name="us-east-1")


def matrix_pool() -> str:
    """A moto user pool like the template's."""
    return user_pool(clients_cognito(), "matrix")


def fresh_host(world: World, email: str | None = None) -> str:
    """A new host user of site A (created by an admin through the API); returns its username."""
    return new_host(world.h, world.a.site_id, email)


def new_host(h: Harness, site_id: str, email: str | None = None) -> str:
    """A new host user of ``site_id`` (created by an admin through the API); returns its username."""
    body = {"email": email or f"h{secrets.token_hex(4)}@example.com", "name": "Host", "site_ids": [site_id]}
    created = h.admin("POST", "/hosts", body)
    assert created.status == 201, created.body
    return str(created.json()["username"])


def fresh_pairing_code(world: World) -> str:
    """A pairing code of a new terminal of site A."""
    terminal = world.h.create_terminal(world.a.site_id, [world.a.door_id])
    path = f"/sites/{world.a.site_id}/terminals/{terminal.terminal_id}/pairing"
    issued = world.h.admin("POST", path)
    assert issued.status == 201, issued.body
    return str(issued.json()["pairing_code"])


# --------------------------------------------------------------------------------------- the matrix

ONE_ANSWER_FOR_OTHER_SITES = {
    ("DELETE", "/invites/{invite_id}"),
    ("POST", "/invites/{invite_id}/email"),
    ("GET", "/invites/{invite_id}"),
}
"""Routes addressed by an object id whose site is not in the path: another site's object is 404, like an
unknown id, so ids of other sites cannot be probed."""

SCENARIOS = ("anonymous", "wrong_kind", "expired", "revoked", "other_site", "host_on_admin_only")
APPLIES = {
    "public": {"anonymous"},
    "unclassified": {"anonymous"},
    "admin": set(SCENARIOS),
    "host": set(SCENARIOS) - {"host_on_admin_only"},
    "visitor": {"anonymous", "wrong_kind", "expired", "revoked"},
    "terminal": {"anonymous", "wrong_kind", "expired", "revoked", "other_site"},
    "pairing": {"anonymous", "wrong_kind"},
}
"""Which scenarios mean something for each kind of route. Not applicable: credentials of public routes;
another site's token for visitor routes (the token names one invite, the path names no site); a host on
host routes (the positive control below covers hosts of the site)."""

MATRIX = [
    pytest.param(route, scenario, id=f"{scenario}:{route_id(route)}")
    for route in ROUTES
    for scenario in SCENARIOS
    if scenario in APPLIES[kind(route)]
]


def check(response: ApiResponse, status: int, code: str | None, label: str) -> None:
    """The status, and for errors the stable code in the one error shape (nothing else in the body)."""
    assert response.status == status, f"{label}: {response.status} {response.body[:300]!r}"
    if code is not None:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, label
        assert body["error"]["code"] == code, f"{label}: {body}"


@pytest.mark.parametrize(("route", "scenario"), MATRIX)
def test_auth_matrix(world: World, route: TemplateRoute, scenario: str) -> None:
    # Given the route's kind of credential and the scenario's wrong credential
    route_kind = kind(route)
    h = world.h
    # When the route is called with it, Then the status and stable code are the documented ones
    if scenario == "anonymous":
        if route_kind == "public":
            response = world.request(route)
            expected = 302 if (route.method, route.path) in PUBLIC_REDIRECTS else 200
            assert response.status == expected, f"public route {route_id(route)}: {response.status}"
        elif route_kind in ("admin", "host"):
            check(world.request(route), 401, "unauthorized", "no bearer token")
        elif route_kind == "visitor":
            check(world.request(route, token=random_token()), 401, "invalid_token", "unknown invite token")
        elif route_kind == "terminal":
            check(world.request(route), 401, "missing_signature", "no signature headers")
        elif route_kind == "pairing":
            check(world.request(route), 404, "pairing_code_invalid", "unknown pairing code")
        else:
            response = world.request(route)
            assert response.status == 401, (
                f"{route_id(route)} needs no authorizer, is not in the PUBLIC allow-list and answered an anonymous "
                f"call with {response.status}: add its credential check (or allow-list it on purpose)"
            )
    elif scenario == "wrong_kind":
        invite_token = world.active["token"]
        if route_kind in ("admin", "host"):
            check(
                world.request(route, terminal=world.a.terminal), 401, "unauthorized", "terminal signature on JWT route"
            )
            check(world.request(route, bearer=invite_token), 401, "unauthorized", "invite token as bearer")
        elif route_kind == "pairing":
            # no other credential stands in for the code
            check(world.request(route, bearer=h.admin_token()), 404, "pairing_code_invalid", "admin JWT, no code")
            check(world.request(route, terminal=world.a.terminal), 404, "pairing_code_invalid", "terminal sig, no code")
        elif route_kind == "visitor":
            stranger = random_token()
            check(world.request(route, bearer=h.admin_token(), token=stranger), 401, "invalid_token", "admin JWT")
            check(world.request(route, terminal=world.a.terminal, token=stranger), 401, "invalid_token", "terminal sig")
        elif route_kind == "terminal":
            check(world.request(route, bearer=h.admin_token()), 401, "missing_signature", "admin JWT on door")
            check(world.request(route, bearer=invite_token), 401, "missing_signature", "invite token on door")
    elif scenario == "expired":
        if route_kind in ("admin", "host"):
            expired_jwt = h.issuer.token("admin-1", ["admins"], expires_in=-5)
            check(world.request(route, bearer=expired_jwt), 401, "unauthorized", "expired JWT")
        elif route_kind == "visitor":
            status, code = EXPIRED_VISITOR.get((route.method, route.path), (410, "invite_expired"))
            check(world.request(route, token=world.expired_token), status, code, "expired invite")
        elif route_kind == "terminal":
            stale = int(world.clock().timestamp()) - 120
            check(world.request(route, terminal=world.a.terminal, timestamp=stale), 401, "clock_skew", "stale request")
    elif scenario == "revoked":
        if route_kind in ("admin", "host"):
            # a user taken out of every group gets tokens without groups
            no_role = h.issuer.token("former-admin", [], [world.a.site_id])
            check(world.request(route, bearer=no_role), 403, "forbidden", "JWT without a group")
        elif route_kind == "visitor":
            check(world.request(route, token=world.revoked_token), 410, "invite_revoked", "revoked invite")
        elif route_kind == "terminal":
            check(world.request(route, terminal=world.term_revoked), 401, "key_revoked", "revoked terminal")
    elif scenario == "other_site":
        host_of_b = h.host_token([world.b.site_id])
        if route_kind == "admin":
            check(world.request(route, bearer=host_of_b), 403, "forbidden", "host of B on admin route")
        elif route_kind == "host" and (route.method, route.path) in SITELESS_HOST_ROUTES:
            # a host of B asking about "my sites" learns nothing about site A
            response = world.request(route, bearer=host_of_b)
            assert response.status == 200 and world.a.site_id not in response.body.decode(), route_id(route)
        elif route_kind == "host" and (route.method, route.path) in ONE_ANSWER_FOR_OTHER_SITES:
            # issue 12, item 8: another site's invite and an unknown one get the same answer
            check(world.request(route, bearer=host_of_b), 404, "not_found", "host of B on an invite of A")
        elif route_kind == "host":
            check(world.request(route, bearer=host_of_b), 403, "site_not_allowed", "host of B on site A")
        elif route_kind == "terminal":
            check(
                world.request(route, terminal=world.b.terminal), 403, "door_not_allowed", "terminal of B at door of A"
            )
    elif scenario == "host_on_admin_only":
        host_of_a = h.host_token([world.a.site_id])
        check(world.request(route, bearer=host_of_a), 403, "forbidden", "host of A on admin-only route")


def test_every_route_is_classified_and_the_matrix_covers_it() -> None:
    # Given the template's routes
    kinds = {route_id(route): kind(route) for route in ROUTES}
    # Then the allow-list names only routes that exist, every route has a kind, and the terminal and
    # host sets are routes of the template (a renamed route cannot silently leave the matrix)
    keys = {(route.method, route.path) for route in ROUTES}
    assert keys >= PUBLIC | TERMINAL_ROUTES | HOST_ROUTES | SITELESS_HOST_ROUTES | PAIRING_ROUTES
    assert "unclassified" not in kinds.values(), kinds
    covered = {route_id(route) for route in ROUTES if APPLIES[kind(route)] & {"anonymous"}}
    assert covered == {route_id(route) for route in ROUTES}
    assert len(MATRIX) == sum(len(APPLIES[kind(route)]) for route in ROUTES)


# --------------------------------------------------------------------------------------- positive controls


def _fresh_token(world: World, consented: bool) -> str:
    invite = world.h.invite(world.a.site_id, [world.a.door_id])
    if consented:
        assert world.h.consent(invite["token"]).status == 201
    return str(invite["token"])


@pytest.mark.parametrize("route", [r for r in ROUTES if kind(r) != "unclassified"], ids=route_id)
def test_the_right_credential_is_accepted(world: World, route: TemplateRoute) -> None:
    # Given the credential the route is meant for (fresh objects for routes that consume them)
    h = world.h
    key = (route.method, route.path)
    route_kind = kind(route)
    # When the route is called with it
    if route_kind == "public":
        response = world.request(route)
    elif route_kind == "terminal":
        response = world.request(route, terminal=world.a.terminal)
    elif route_kind == "visitor":
        consumes = {
            ("POST", "/register/{token}/consent"): False,
            ("POST", "/register/{token}/selfie"): True,
            ("DELETE", "/register/{token}"): True,
        }
        token = _fresh_token(world, consumes[key]) if key in consumes else None
        response = world.request(route, token=token)
    elif key == ("DELETE", "/sites/{site_id}"):
        site = h.create_site("To retire")
        response = h.call("DELETE", f"/sites/{site}", bearer=h.admin_token())
    elif key == ("DELETE", "/sites/{site_id}/doors/{door_id}"):
        door = h.create_door(world.a.site_id, "To retire")["door_id"]
        response = h.call("DELETE", f"/sites/{world.a.site_id}/doors/{door}", bearer=h.admin_token())
    elif key == ("POST", "/sites/{site_id}/terminals/{terminal_id}/rotate"):
        terminal = h.create_terminal(world.a.site_id, [world.a.door_id])
        path = f"/sites/{world.a.site_id}/terminals/{terminal.terminal_id}/rotate"
        response = h.call("POST", path, bearer=h.admin_token())
    elif key == ("POST", "/pair"):
        code = fresh_pairing_code(world)
        response = h.call("POST", "/pair", json_body={"pairing_code": code}, source_ip=world.fresh_ip())
    elif key == ("POST", "/hosts"):
        body = {"email": f"h{secrets.token_hex(4)}@example.com", "name": "Host", "site_ids": [world.a.site_id]}
        response = h.call("POST", "/hosts", json_body=body, bearer=h.admin_token())
    elif key == ("DELETE", "/hosts/{username}"):
        response = h.call("DELETE", f"/hosts/{fresh_host(world)}", bearer=h.admin_token())
    elif key == ("DELETE", "/terminals/{terminal_id}"):
        terminal = h.create_terminal(world.a.site_id, [world.a.door_id])
        response = h.call("DELETE", f"/terminals/{terminal.terminal_id}", bearer=h.admin_token())
    elif key == ("DELETE", "/invites/{invite_id}"):
        fresh_invite = h.invite(world.a.site_id, [world.a.door_id])
        response = h.call("DELETE", f"/invites/{fresh_invite['invite_id']}", bearer=h.host_token([world.a.site_id]))
    elif key == ("POST", "/invites/{invite_id}/email"):
        now = world.clock()
        with_email = {
            "door_ids": [world.a.door_id],
            "valid_from": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valid_until": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "email": "visitor@example.com",
        }
        created = h.call("POST", f"/sites/{world.a.site_id}/invites", json_body=with_email, bearer=h.admin_token())
        path = f"/invites/{created.json()['invite_id']}/email"
        response = h.call("POST", path, bearer=h.host_token([world.a.site_id]))
    elif route_kind == "host":
        response = world.request(route, bearer=h.host_token([world.a.site_id]))
    else:
        response = world.request(route, bearer=h.admin_token())
    # Then it succeeds (so every refusal in the matrix is the credential's doing)
    if key in PUBLIC_REDIRECTS:
        assert response.status == 302 and response.headers["location"] == "/console", route_id(route)
        return
    assert 200 <= response.status < 300, f"{route_id(route)}: {response.status} {response.body[:300]!r}"


# --------------------------------------------------------------------------------------- defence in depth


JWT_ROUTES = [r for r in ROUTES if r.auth == "jwt"]


@pytest.mark.parametrize("route", JWT_ROUTES, ids=route_id)
def test_handlers_refuse_events_without_verified_claims(world: World, route: TemplateRoute) -> None:
    # Given an event that reached the function without the authorizer (misconfiguration, direct invoke)
    path = world.fill(route)
    body, headers = world.body(route)
    cases = [
        ("no authorizer context", None, 401, "unauthorized"),
        ("claims without sub", {"cognito:groups": "[admins]"}, 401, "unauthorized"),
        ("empty sub", {"sub": "", "cognito:groups": "[admins]"}, 401, "unauthorized"),
        ("no group", {"sub": "user-1"}, 403, "forbidden"),
        ("unknown group", {"sub": "user-1", "cognito:groups": "[visitors]"}, 403, "forbidden"),
    ]
    for label, claims, status, code in cases:
        event = direct_event(route.method, path, route.path, body=body, headers=headers, claims=claims)
        # When the handler runs, Then it refuses by itself with the stable code
        check(world.h.invoke(route.function, event), status, code, f"{route_id(route)}: {label}")


# --------------------------------------------------------------------------------------- the JWT layer


def _tampered(token: str) -> str:
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["admins"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("route", JWT_ROUTES, ids=route_id)
def test_the_gateway_accepts_only_valid_tokens_of_the_pool(world: World, route: TemplateRoute) -> None:
    # Given tokens that are wrong in every way an attacker could try
    issuer = world.h.issuer
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host_token = issuer.token("host-1", ["hosts"], [world.a.site_id])
    forgeries = {
        "alg none": issuer.token("admin-1", ["admins"], alg="none"),
        "signed by another key, same kid": issuer.token("admin-1", ["admins"], signing_key=other_key),
        "unknown kid": issuer.token("admin-1", ["admins"], kid="other-kid"),
        "other issuer": issuer.token("admin-1", ["admins"], issuer="https://evil.example/pool"),
        "other audience": issuer.token("admin-1", ["admins"], audience="another-client"),
        "expired": issuer.token("admin-1", ["admins"], expires_in=-1),
        "no exp": issuer.token("admin-1", ["admins"], drop=["exp"]),
        "groups edited after signing": _tampered(host_token),
        "garbage": "not.a.jwt",
        "empty": "",
    }
    path = world.fill(route)
    body, headers = world.body(route)
    for label, token in forgeries.items():
        # When the route is called with it, Then the gateway answers 401 before any function runs
        response = world.h.call(route.method, path, body=body, headers={**headers, "authorization": f"Bearer {token}"})
        check(response, 401, "unauthorized", f"{route_id(route)}: {label}")
    # And other schemes and places for a valid token are refused too
    valid = issuer.token("admin-1", ["admins"])
    for label, extra in {
        "Basic scheme": {"authorization": f"Basic {valid}"},
        "token without scheme": {"authorization": valid},
        "token in another header": {"x-authorization": f"Bearer {valid}"},
    }.items():
        check(world.h.call(route.method, path, body=body, headers={**headers, **extra}), 401, "unauthorized", label)


# --------------------------------------------------------------------------------------- the documents agree


def test_openapi_security_agrees_with_the_template() -> None:
    # Given the OpenAPI document and the template's routes
    document = openapi_document()
    operations = {
        (method.upper(), path): operation.get("security", [])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    template = {(r.method, r.path): r for r in ROUTES}
    # Then every documented operation is a deployed route and every deployed route but the public pages
    # is documented
    assert set(operations) == set(template) - PUBLIC
    # And the documented credential is the deployed one: JWT routes declare cognitoJwt, the door route the
    # terminal signature, visitor routes and pairing nothing (a token in the path, a one-time code in the body)
    for key, security in operations.items():
        schemes = {name for requirement in security for name in requirement}
        if template[key].auth == "jwt":
            assert schemes == {"cognitoJwt"}, key
        elif key in TERMINAL_ROUTES:
            assert schemes == {"terminalSignature"}, key
        elif key in PAIRING_ROUTES:
            assert schemes == set(), key
        else:
            assert schemes == set() and "{token}" in key[1], key


# --------------------------------------------------------------------------------------- response headers


def test_public_pages_forbid_framing_sniffing_referrers_and_caching(world: World) -> None:
    # Given the two pages (the visitor page's URL carries the invite token)
    for path in (f"/register/{world.active['token']}", "/kiosk"):
        # When a browser loads them
        response = world.h.call("GET", path)
        headers = response.headers
        # Then scripts and frames are restricted to the origin, the token never leaves in a Referer, and the
        # page is not cached
        assert response.status == 200
        policy = headers["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
            assert directive in policy, (path, directive)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    # And static assets are served only from a flat allow-list of names and types
    for name in ("../register.html", "..%2Fregister.html", "app.py", ".env", "x" * 65 + ".js"):
        assert world.h.call("GET", f"/static/{name}").status in (400, 404), name


def test_responses_that_carry_secrets_are_not_cacheable(world: World) -> None:
    # Given the calls whose answers carry a secret shown once or a credential
    h = world.h
    token = _fresh_token(world, consented=True)
    answers = {
        "invite token": h.call(
            "POST", f"/sites/{world.a.site_id}/invites", body=world.body(_route("POST", "/sites/{site_id}/invites"))[0],
            headers={"content-type": "application/json"}, bearer=h.admin_token(),
        ),
        "door unlock key": h.admin("POST", f"/sites/{world.a.site_id}/doors", {"name": "Side"}),
        "terminal secret": h.admin(
            "POST", f"/sites/{world.a.site_id}/terminals", {"name": "kiosk 3", "door_ids": [world.a.door_id]}
        ),
        "claim code (enrollment)": h.enroll(token, world.selfies),
        "claim code (status)": h.call("GET", f"/register/{token}/status"),
        "unlock token": h.verify(world.a.terminal, world.a.door_id, world.frame),
    }  # fmt: skip
    # Then each succeeded and tells every cache not to store it
    for label, response in answers.items():
        assert response.status in (200, 201), (label, response.body[:200])
        assert response.headers.get("cache-control") == "no-store", (label, response.headers)


def _route(method: str, path: str) -> TemplateRoute:
    return next(route for route in ROUTES if (route.method, route.path) == (method, path))


def test_ids_in_bodies_cannot_reach_into_another_site(world: World) -> None:
    # Given a host and an admin of site A naming site B's door in a request about site A
    h = world.h
    now = world.clock()
    invite = {
        "door_ids": [world.b.door_id],
        "valid_from": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # When they invite a visitor to it, or bind a new terminal to it
    by_host = h.call(
        "POST", f"/sites/{world.a.site_id}/invites", json_body=invite, bearer=h.host_token([world.a.site_id])
    )
    terminal = h.admin("POST", f"/sites/{world.a.site_id}/terminals", {"name": "k", "door_ids": [world.b.door_id]})
    # Then both are refused: a door id is only valid inside its own site
    check(by_host, 400, "unknown_door", "invite to another site's door")
    check(terminal, 400, "unknown_door", "terminal bound to another site's door")


def test_invites_are_bounded_in_time(world: World) -> None:
    # Given a host of site A
    h, now = world.h, world.clock()
    host = h.host_token([world.a.site_id])

    def window(start: timedelta, end: timedelta) -> dict[str, Any]:
        return {
            "door_ids": [world.a.door_id],
            "valid_from": (now + start).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valid_until": (now + end).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    # When they invite for more than 31 days, for a window already over, or for an empty window
    cases = {
        "32 days": window(timedelta(0), timedelta(days=32)),
        "ended": window(timedelta(days=-2), timedelta(days=-1)),
        "empty": window(timedelta(hours=2), timedelta(hours=1)),
    }
    # Then each is refused (retention is bounded by the invite window plus the grace period)
    for label, body in cases.items():
        response = h.call("POST", f"/sites/{world.a.site_id}/invites", json_body=body, bearer=host)
        check(response, 400, "invalid_window", label)
    # And 31 days is accepted
    ok = h.call(
        "POST", f"/sites/{world.a.site_id}/invites", json_body=window(timedelta(0), timedelta(days=31)), bearer=host
    )
    assert ok.status == 201, ok.body

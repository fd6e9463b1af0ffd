"""Issue 12 (hardening, round two): the local stack, the client SDK's unlock-token check and the deployment
template. Each test is named after the attack; each failed on the main branch before the fix."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import http.client
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import facegate_client as fc
from facegate_tools.local import emulators, stack
from facegate_tools.local.aws import load_template
from facegate_tools.local.gateway import LocalGateway, LocalIssuer, start_http

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local"
AUDIENCE = "local-client"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _moto_bundled_key() -> tuple[str, rsa.RSAPrivateKey]:
    """The RSA private key moto ships (public knowledge: it is inside every moto wheel)."""
    raw = (resources.files("moto") / "cognitoidp" / "resources" / "jwks-private.json.gz").read_bytes()
    jwk = json.loads(gzip.decompress(raw))
    n, e, d = _b64int(jwk["n"]), _b64int(jwk["e"]), _b64int(jwk["d"])
    p, q = rsa.rsa_recover_prime_factors(n, e, d)
    private = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, n),
    )
    return str(jwk.get("kid", "dummy")), private.private_key()


def _mint(key: rsa.RSAPrivateKey, kid: str, claims: dict[str, Any]) -> str:
    head = _b64url(json.dumps({"alg": "RS256", "kid": kid}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64url(signature)}"


# ----------------------------------------------------------------------- local stack: JWT, emulators, banner


def test_admin_token_minted_with_motos_bundled_key_is_refused_by_the_local_gateway() -> None:
    # Given the local stack's verifier (a fresh key per run) and an attacker holding moto's bundled private key
    issuer = LocalIssuer(ISSUER, AUDIENCE)
    verifier = issuer.verifier()
    kid, moto_key = _moto_bundled_key()
    now = int(time.time())
    claims = {"sub": "attacker", "cognito:groups": ["admins"], "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    # When the attacker mints an admin token with moto's key (under moto's kid and under the run's kid)
    forged = [_mint(moto_key, kid, claims), _mint(moto_key, issuer.kid, claims)]
    # Then both are refused, while the run's own token is accepted
    assert all(verifier.claims(token) is None for token in forged)
    own = verifier.claims(issuer.token("admin-sub", "admin@facegate.local", ["admins"]))
    assert own is not None and own["cognito:groups"] == ["admins"]


def test_each_run_signs_with_a_fresh_key_that_the_previous_run_does_not_accept() -> None:
    # Given two runs of the local stack / When a token of the first is shown to the second / Then it is refused
    first, second = LocalIssuer(ISSUER, AUDIENCE), LocalIssuer(ISSUER, AUDIENCE)
    token = first.token("admin-sub", "admin@facegate.local", ["admins"])
    assert first.kid != second.kid
    assert second.verifier().claims(token) is None


def test_local_stack_does_not_use_moto_tokens() -> None:
    # Given the local stack's source / Then it never asks moto's Cognito for tokens or its JWKS
    source = Path(stack.__file__).read_text(encoding="utf-8")
    assert "initiate_auth" not in source and "jwks.json" not in source
    assert "LocalIssuer" in source


def test_server_header_announces_no_software_version() -> None:
    # Given the local gateway serving on loopback
    server, _ = start_http(LocalGateway([], None), "127.0.0.1", 0)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", "/nothing")
        response = connection.getresponse()
        response.read()
        banner = response.getheader("server") or ""
    finally:
        server.shutdown()
        server.server_close()
    # Then the Server header names no Python or BaseHTTP version
    assert "Python" not in banner and "BaseHTTP" not in banner and not any(ch.isdigit() for ch in banner), banner


def test_emulators_with_host_0_0_0_0_still_listen_on_loopback_only() -> None:
    # Given moto's server as `facegate serve --host 0.0.0.0` starts it
    moto = emulators.MotoServer()
    # Then it binds loopback, whatever host the gateway uses
    assert moto.endpoint.startswith("http://127.0.0.1:")
    # And DynamoDB Local is started with a CORS allow-list no browser origin can match (its default is "*")
    assert emulators.NO_BROWSER_ORIGIN.endswith(".invalid")
    source = Path(emulators.__file__).read_text(encoding="utf-8")
    assert '"-cors", NO_BROWSER_ORIGIN' in source


def test_local_stack_uses_per_run_emulator_credentials() -> None:
    # Given two local stacks / Then each has its own emulator credentials (DynamoDB Local keeps one database
    # per access key: another local client does not see facegate's tables)
    one, two = stack.LocalStack(REPO / "template.yaml"), stack.LocalStack(REPO / "template.yaml")
    assert one._credentials != two._credentials
    assert one._credentials[0] != "local"


# ----------------------------------------------------------------------- client SDK: unlock tokens

UNLOCK_KEY_BYTES = bytes(range(32))
UNLOCK_KEY = _b64url(UNLOCK_KEY_BYTES)
DOOR = "door_h12"


def _unlock_token(jti: str, now: int) -> str:
    claims = {"iss": "facegate", "aud": DOOR, "sub": "dec_1", "iat": now, "exp": now + 10, "jti": jti}
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = hmac.new(UNLOCK_KEY_BYTES, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(signature)}"


def test_replayed_unlock_token_is_refused_by_default() -> None:
    # Given a valid unlock token, captured on the wire
    now = int(time.time())
    token = _unlock_token(f"jti-{time.time_ns()}", now)
    # When the door controller checks it twice with the defaults
    fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=now + 1)
    # Then the replay is refused
    with pytest.raises(fc.UnlockTokenReplayError):
        fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=now + 2)


def test_replay_check_can_only_be_turned_off_explicitly() -> None:
    # Given a token / When checked twice with check_replay=False / Then both pass (the caller keeps its own record)
    now = int(time.time())
    token = _unlock_token(f"jti-off-{time.time_ns()}", now)
    fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=now, check_replay=False)
    fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=now, check_replay=False)


@pytest.mark.parametrize("leeway", [31.0, 3600.0, 1e9, -1.0])
def test_unbounded_leeway_that_keeps_expired_tokens_valid_is_refused(leeway: float) -> None:
    # Given a token that expired an hour ago
    now = int(time.time())
    token = _unlock_token(f"jti-leeway-{time.time_ns()}", now - 3600)
    # When a controller configures a huge (or negative) leeway / Then it is a configuration error
    with pytest.raises(ValueError, match="leeway_s"):
        fc.verify_unlock_token(token, UNLOCK_KEY, DOOR, now=now, leeway_s=leeway)


def test_readme_says_what_a_door_controller_must_keep() -> None:
    # Given the READMEs / Then they say replay protection is on by default and what the controller keeps
    text = (REPO / "client_sdk" / "README.md").read_text(encoding="utf-8")
    assert "on by default" in text and "leeway_s" in text and "must keep" in text


# ----------------------------------------------------------------------- template: concurrency, throttles, alarms


def _resources() -> dict[str, Any]:
    resources_: dict[str, Any] = load_template(REPO / "template.yaml")["Resources"]
    return resources_


def test_visitor_flood_cannot_starve_the_door_function_of_concurrency() -> None:
    # Given the template / Then the door function has reserved concurrency and the visitor function a ceiling
    found = _resources()
    door = found["VerifyAtDoorFunction"]["Properties"]["ReservedConcurrentExecutions"]
    visitor = found["RegisterVisitorFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert door["Fn::If"][1] == {"Ref": "VerifyReservedConcurrency"}
    assert visitor["Fn::If"][1] == {"Ref": "RegisterReservedConcurrency"}


def test_every_unauthenticated_visitor_route_has_its_own_small_throttle() -> None:
    # Given the HTTP API's per-route settings
    settings = _resources()["HttpApi"]["Properties"]["RouteSettings"]
    door = settings["POST /doors/{door_id}/verify"]
    # Then every visitor route is throttled well below the door route
    for route in (
        "POST /register/{token}/selfie",
        "POST /register/{token}/consent",
        "GET /register/{token}/notice",
        "GET /register/{token}/status",
        "DELETE /register/{token}",
    ):
        assert settings[route]["ThrottlingRateLimit"] < door["ThrottlingRateLimit"], route
        assert settings[route]["ThrottlingBurstLimit"] < door["ThrottlingBurstLimit"], route


@pytest.mark.parametrize(
    "code",
    [
        "invalid_token",
        "rate_limited",
        "invalid_signature",
        "unknown_key",
        "key_revoked",
        "nonce_reused",
        "door_not_allowed",
        "cooling_down",
    ],
)
def test_attack_signals_have_a_cloudwatch_alarm(code: str) -> None:
    # Given the template's alarms / Then one watches the Refused metric for this code
    alarms = [r["Properties"] for r in _resources().values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    watching = [
        a
        for a in alarms
        if a.get("MetricName") == "Refused" and {"Name": "code", "Value": code} in a.get("Dimensions", [])
    ]
    assert len(watching) == 1, code
    assert watching[0]["Namespace"] == "facegate"

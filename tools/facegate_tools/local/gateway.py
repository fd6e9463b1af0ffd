"""A small local stand-in for API Gateway (HTTP API): routes by ``template.yaml``, verifies JWTs like
the Cognito authorizer, turns HTTP requests into payload-v2 events for the same handlers.

It is for the local stack only. Differences from AWS, on purpose: a rejected JWT is answered with
facegate's own error body (``{"error": {"code": "unauthorized", ...}}``) where API Gateway answers
``{"message": "Unauthorized"}``; the client SDK accepts both.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from facegate_tools.local.events import LambdaContext, http_event
from facegate_tools.local.inprocess import ApiResponse, to_response

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
LocalHandler = Callable[[str, str, Mapping[str, str], bytes], ApiResponse | None]
"""Answers local-only routes (``/_local/...``, never in the template): (method, target, headers, body) ->
a response, or None when the path is not one of its own."""
MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway HTTP APIs accept at most 10 MB per request."""


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtVerifier:
    """Checks RS256 ID tokens against a JWKS, an issuer and an audience (the authorizer's job)."""

    def __init__(self, jwks: Mapping[str, Any], issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for key in jwks.get("keys", []):
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(_b64url(key["e"]), "big"), int.from_bytes(_b64url(key["n"]), "big")
            )
            self._keys[key.get("kid", "")] = numbers.public_key()

    def claims(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The token's claims if it is valid now, else None."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = json.loads(_b64url(header_b64))
            payload: dict[str, Any] = json.loads(_b64url(payload_b64))
            key = self._keys.get(header.get("kid", ""))
            if key is None or header.get("alg") != "RS256":
                return None
            key.verify(
                _b64url(signature_b64), f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, InvalidSignature, UnicodeDecodeError, TypeError):
            return None
        moment = time.time() if now is None else now
        audience = payload.get("aud", payload.get("client_id"))
        if payload.get("iss") != self.issuer or audience != self.audience or float(payload.get("exp", 0)) <= moment:
            return None
        return payload


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIssuer:
    """The local stack's stand-in for Cognito's signing key: a fresh RSA key per ``facegate serve``.

    The local gateway trusts this key and nothing else (never the key pair bundled with moto, whose
    private half is public: anyone could mint admin tokens with it). The private key lives only in the
    serving process's memory; it is never written to disk, so tokens die with the process.
    """

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = secrets.token_hex(8)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS (what the verifier trusts)."""
        numbers = self._key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        key = {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig"}
        return {"keys": [{**key, "n": _b64url_encode(n), "e": _b64url_encode(e)}]}

    def verifier(self) -> JwtVerifier:
        """A verifier that trusts exactly this issuer's key, issuer and audience."""
        return JwtVerifier(self.jwks(), self.issuer, self.audience)

    def token(
        self,
        subject: str,
        email: str,
        groups: list[str],
        site_ids: list[str] | None = None,
        ttl_seconds: int = 3600,
        extra: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> str:
        """An RS256 ID token shaped like Cognito's (``cognito:groups``, ``custom:site_ids``, ``token_use``),
        valid ``ttl_seconds`` seconds from ``now`` (unix seconds; default: the clock); ``extra`` claims (e.g.
        ``name``) are added last."""
        now = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": subject,
            "email": email,
            "cognito:groups": groups,
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if site_ids is not None:
            claims["custom:site_ids"] = ",".join(site_ids)
        claims.update(extra or {})
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64url_encode(json.dumps(header).encode())}.{_b64url_encode(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url_encode(signature)}"


def authorizer_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims the way the HTTP API JWT authorizer passes them: every value a string, lists as ``[a b]``."""
    flattened = {}
    for key, value in claims.items():
        if isinstance(value, list | tuple):
            flattened[key] = "[" + " ".join(str(item) for item in value) + "]"
        else:
            flattened[key] = str(value)
    return flattened


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the HTTP API: ``path`` uses ``{name}`` parameters, ``auth`` is ``jwt`` or ``none``."""

    method: str
    path: str
    handler: Handler
    auth: str
    function: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{([A-Za-z0-9_]+)\+?\}", r"(?P<\1>[^/]+)", self.path) + "$")


class LocalGateway:
    """Dispatches requests to handlers like API Gateway would (routing, JWT authorizer, events)."""

    def __init__(self, routes: list[Route], verifier: JwtVerifier | None, local: LocalHandler | None = None) -> None:
        self.routes = [(route, route.pattern) for route in routes]
        self.verifier = verifier
        self.local = local
        self._invoke = threading.Lock()
        """One invocation at a time, like one Lambda instance: Powertools resolvers keep the current
        event in state shared by every resolver of the process, so concurrent calls would mix requests."""

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str) -> ApiResponse:
        """Serve one request; ``target`` is the request path with its query string."""
        split = urlsplit(target)
        path = split.path
        if self.local is not None and path.startswith("/_local/"):
            answer = self.local(method, target, headers, body)
            if answer is not None:
                return answer
        for route, pattern in self.routes:
            match = pattern.match(path)
            if match is None or route.method != method.upper():
                continue
            claims = None
            if route.auth == "jwt":
                claims = self._claims(headers)
                if claims is None:
                    return _error(401, "unauthorized", "a valid bearer token is required")
            event = http_event(
                method,
                path,
                route_key=f"{route.method} {route.path}",
                path_parameters=match.groupdict(),
                query=split.query,
                headers=headers,
                body=body,
                claims=claims,
                source_ip=source_ip,
            )
            with self._invoke:
                result = route.handler(event, LambdaContext(route.function))
            return to_response(result)
        if any(pattern.match(path) for _, pattern in self.routes):
            return _error(405, "method_not_allowed", "this method is not allowed on this path")
        return _error(404, "not_found", "no such route")

    def _claims(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        lowered = {key.lower(): value for key, value in headers.items()}
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if self.verifier is None or scheme.lower() != "bearer" or not token:
            return None
        claims = self.verifier.claims(token.strip())
        return None if claims is None else authorizer_claims(claims)


def _error(status: int, code: str, message: str) -> ApiResponse:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return ApiResponse(status=status, headers={"content-type": "application/json"}, body=body)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "facegate-local"

    def version_string(self) -> str:
        """The ``Server`` header: a name, no software versions (nothing to fingerprint)."""
        return self.server_version

    def _serve(self) -> None:
        length_header = self.headers.get("content-length", "0") or "0"
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._reply(_error(413, "payload_too_large", "the request is too large"), close=True)
            return
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            response = self.server.gateway.handle(self.command, self.path, headers, body, self.client_address[0])
        except Exception:  # the gateway itself must never hang a client
            response = _error(502, "bad_gateway", "the function failed")
        self._reply(response)

    def _reply(self, response: ApiResponse, close: bool = False) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            if key not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(response.body)))
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def do_OPTIONS(self) -> None:
        self._reply(_error(404, "not_found", "no such route"))

    def log_message(self, format: str, *args: Any) -> None:
        return


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: LocalGateway) -> None:
        super().__init__(address, _RequestHandler)
        self.gateway = gateway


def start_http(gateway: LocalGateway, host: str, port: int) -> tuple[_GatewayServer, threading.Thread]:
    """Serve ``gateway`` over HTTP on ``host:port`` in a background thread (port 0 = any free port)."""
    server = _GatewayServer((host, port), gateway)
    thread = threading.Thread(target=server.serve_forever, name="facegate-gateway", daemon=True)
    thread.start()
    return server, thread

"""Door-terminal request signing and offline unlock-token verification (standard library only).

Request signature (``POST /doors/{door_id}/verify``)::

    string_to_sign = METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n" hex(SHA-256(body))
                     [ "\\n" X-Facegate-Claim ]                   # only when that header is sent
                     [ "\\n" "challenge=" X-Facegate-Challenge ]  # idem
                     [ "\\n" "liveness=" X-Facegate-Liveness ]    # idem (passed | failed)
    X-Facegate-Signature = lowercase hex(HMAC-SHA256(secret as UTF-8, string_to_sign))

Unlock token: an HS256 JWT signed with the door's ``unlock_key`` (base64url of 32 bytes), claims
``{iss: "facegate", aud: <door_id>, sub: <decision_id>, iat, exp, jti}``, lifetime ≤ 10 s.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypedDict, cast

from facegate_client._options import check_keywords

if TYPE_CHECKING:
    from typing import Unpack

__all__ = [
    "ISSUER",
    "MalformedUnlockTokenError",
    "Proof",
    "ReplayCache",
    "SignatureOptions",
    "UnlockClaims",
    "UnlockTokenClaimsError",
    "UnlockTokenError",
    "UnlockTokenReplayError",
    "UnlockTokenSignatureError",
    "canonical_string",
    "decode_unlock_key",
    "new_nonce",
    "sign_request",
    "signature_headers",
    "verify_unlock_token",
]

ISSUER = "facegate"
"""The ``iss`` claim of every unlock token."""

MIN_NONCE_LENGTH = 16
_METHOD = re.compile(r"[A-Za-z]+")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_P = ParamSpec("_P")

_PROOF_HEADERS = {"claim": "X-Facegate-Claim", "challenge": "X-Facegate-Challenge", "liveness": "X-Facegate-Liveness"}
"""The optional signed headers, in the order of their lines in the string to sign (all but the claim's line
carry a ``name=`` prefix)."""


def _single_line(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{name} must not contain line breaks")
    return value


def canonical_string(
    method: str,
    path: str,
    timestamp: int | str,
    nonce: str,
    body: bytes,
    claim: str | None = None,
    challenge: str | None = None,
    liveness: str | None = None,
) -> str:
    """Build the string a terminal signs.

    Args:
        method: HTTP method (``POST``); upper-cased.
        path: request path as sent, without query string (``/doors/d_123/verify``).
        timestamp: unix time in seconds, the ``X-Facegate-Timestamp`` header value.
        nonce: the ``X-Facegate-Nonce`` header value, at least 16 characters, unique per request.
        body: the exact request body bytes (may be empty).
        claim: the ``X-Facegate-Claim`` header value when that header is sent, else None.
        challenge: the ``X-Facegate-Challenge`` header value (a challenge id) when sent, else None.
        liveness: the ``X-Facegate-Liveness`` header value (``passed`` or ``failed``) when sent, else None.

    Returns:
        ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(sha256(body))`` plus ``\\nCLAIM`` when a claim is given, then
        ``\\nchallenge=ID`` and ``\\nliveness=VERDICT`` when those are given.

    Raises:
        ValueError: a malformed method, path, timestamp, nonce or claim.
    """
    if not _METHOD.fullmatch(method):
        raise ValueError(f"invalid HTTP method: {method!r}")
    if not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError("path must start with '/' and carry no query string or fragment")
    stamp = str(timestamp)
    if isinstance(timestamp, bool) or not stamp.isascii() or not stamp.isdigit():
        raise ValueError(f"timestamp must be unix seconds (digits), got {timestamp!r}")
    if len(nonce) < MIN_NONCE_LENGTH:
        raise ValueError(f"nonce must be at least {MIN_NONCE_LENGTH} characters")
    parts = [method.upper(), _single_line("path", path), stamp, _single_line("nonce", nonce)]
    parts.append(hashlib.sha256(body).hexdigest())
    if claim is not None and "=" in claim:
        raise ValueError("claim must not contain '='")
    for name, value in zip(_PROOF_HEADERS, (claim, challenge, liveness), strict=True):
        if value is not None:
            parts.append(("" if name == "claim" else f"{name}=") + _single_line(name, value))
    return "\n".join(parts)


def _signing(
    canonical: Callable[_P, str],
) -> Callable[[Callable[[str, str], str]], Callable[Concatenate[str, _P], str]]:
    """Make ``sign(secret, message)`` take the secret and then ``canonical``'s own arguments."""

    def decorate(sign: Callable[[str, str], str]) -> Callable[Concatenate[str, _P], str]:
        def signed(secret: str, /, *args: _P.args, **kwargs: _P.kwargs) -> str:
            return sign(secret, canonical(*args, **kwargs))

        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(signed, attribute, getattr(sign, attribute))
        return signed

    return decorate


@_signing(canonical_string)
def sign_request(secret: str, message: str) -> str:
    """Compute ``X-Facegate-Signature``: lowercase hex HMAC-SHA256 of :func:`canonical_string`.

    Called as ``sign_request(secret, method, path, timestamp, nonce, body, claim=None, challenge=None,
    liveness=None)``.

    Args:
        secret: the terminal secret (used as its UTF-8 bytes).
        method, path, timestamp, nonce, body, claim, challenge, liveness: as for :func:`canonical_string`.

    Returns:
        64 lowercase hexadecimal characters.
    """
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh random nonce: 24 base64url characters (144 bits)."""
    return secrets.token_urlsafe(18)


class Proof(TypedDict, total=False):
    """The optional signed headers of a terminal request (the keys of :data:`_PROOF_HEADERS`), as for
    :func:`canonical_string`."""

    claim: str | None
    challenge: str | None
    liveness: str | None


class SignatureOptions(Proof, total=False):
    """The keyword arguments of :func:`signature_headers`: what a terminal request may sign besides its method,
    path and body.

    Keys:
        claim, challenge, liveness: as for :func:`canonical_string`; each is also sent as its header.
        timestamp: unix seconds; default: now. Must be within 60 s of the server's clock.
        nonce: default: a fresh :func:`new_nonce`. Never reuse one.
    """

    timestamp: int | None
    nonce: str | None


def signature_headers(
    key_id: str, secret: str, method: str, path: str, body: bytes, **options: Unpack[SignatureOptions]
) -> dict[str, str]:
    """All headers that authenticate one terminal request.

    Args:
        key_id: the terminal's key id (``X-Facegate-Key-Id``).
        secret: the terminal secret.
        method, path, body: as for :func:`canonical_string`.
        options: ``claim``, ``challenge``, ``liveness``, ``timestamp``, ``nonce`` (:class:`SignatureOptions`).

    Returns:
        ``X-Facegate-Key-Id``, ``X-Facegate-Timestamp``, ``X-Facegate-Nonce``, ``X-Facegate-Signature``
        and, when given, ``X-Facegate-Claim``, ``X-Facegate-Challenge`` and ``X-Facegate-Liveness``.
    """
    check_keywords(options, SignatureOptions.__optional_keys__)
    timestamp, nonce = options.get("timestamp"), options.get("nonce")
    stamp = int(time.time()) if timestamp is None else timestamp
    fresh = new_nonce() if nonce is None else nonce
    proof = {name: cast("str | None", options.get(name)) for name in _PROOF_HEADERS}
    headers = {
        "X-Facegate-Key-Id": _single_line("key_id", key_id),
        "X-Facegate-Timestamp": str(stamp),
        "X-Facegate-Nonce": fresh,
        "X-Facegate-Signature": sign_request(secret, method, path, stamp, fresh, body, **proof),
    }
    headers.update({_PROOF_HEADERS[name]: value for name, value in proof.items() if value is not None})
    return headers


class UnlockTokenError(Exception):
    """An unlock token that must not open the door.

    Attributes:
        code: stable reason: ``malformed``, ``unsupported_algorithm``, ``invalid_signature``, ``invalid_issuer``,
            ``wrong_audience``, ``expired``, ``lifetime_too_long``, ``missing_claim``, ``replayed``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MalformedUnlockTokenError(UnlockTokenError):
    """Not a well-formed compact JWT (three base64url parts, JSON objects)."""


class UnlockTokenSignatureError(UnlockTokenError):
    """Wrong algorithm (only HS256 is accepted) or a signature that does not verify with the door's key."""


class UnlockTokenClaimsError(UnlockTokenError):
    """Signed correctly but not valid for this door now (issuer, audience, expiry, lifetime, missing claim)."""


class UnlockTokenReplayError(UnlockTokenError):
    """The token's ``jti`` was already accepted once."""


@dataclasses.dataclass(frozen=True)
class UnlockClaims:
    """The verified claims of an unlock token (times in unix seconds).

    Attributes:
        decision_id: the ``sub`` claim, the audit id of the grant.
        extra: claims beyond the standard set, kept verbatim.
    """

    iss: str
    aud: str | tuple[str, ...]
    sub: str
    iat: float
    exp: float
    jti: str
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False, compare=False)

    @property
    def decision_id(self) -> str:
        """The decision id (``sub``)."""
        return self.sub


class ReplayCache:
    """Remembers accepted ``jti`` values until their token expires (thread-safe, in memory).

    Args:
        max_entries: bound on remembered ids; the soonest-expiring are forgotten first when full.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def check_and_remember(self, jti: str, exp: float, now: float) -> bool:
        """Record ``jti`` (valid until ``exp``, unix seconds); False when it was already recorded and unexpired."""
        with self._lock:
            for key in [key for key, until in self._seen.items() if until <= now]:
                del self._seen[key]
            if jti in self._seen:
                return False
            if len(self._seen) >= self._max_entries:
                del self._seen[min(self._seen, key=self._seen.__getitem__)]
            self._seen[jti] = exp
            return True


MAX_LEEWAY_S = 30.0
"""Largest tolerated clock skew past ``exp``: a controller whose clock is further off must fix its clock
(NTP), not widen the window in which a captured token opens the door."""
MAX_LIFETIME_S = 60.0
"""Largest accepted ``exp - iat`` (the service issues 10 s)."""
DEFAULT_REPLAY_CACHE = ReplayCache()
"""The process-wide cache :func:`verify_unlock_token` uses when none is passed: replay protection is on
by default. It lives as long as the controller process (a restart forgets it; tokens live 10 s)."""


def _b64url_decode(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    stripped = segment.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MalformedUnlockTokenError("malformed", f"the {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise MalformedUnlockTokenError("malformed", f"the {what} is not a JSON object")
    return value


def _numeric(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnlockTokenClaimsError("missing_claim", f"claim {name!r} must be a number")
    return float(value)


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise UnlockTokenClaimsError("missing_claim", f"claim {name!r} must be a non-empty string")
    return value


def decode_unlock_key(unlock_key: str) -> bytes:
    """Decode a door's ``unlock_key`` (base64url, padded or not) to its 32 raw bytes.

    Raises:
        ValueError: not base64url, or not 32 bytes.
    """
    try:
        key = _b64url_decode(unlock_key.strip())
    except (ValueError, binascii.Error):
        raise ValueError("unlock_key is not base64url") from None
    if len(key) != 32:
        raise ValueError(f"unlock_key must decode to 32 bytes, got {len(key)}")
    return key


def verify_unlock_token(
    token: str,
    unlock_key: str,
    door_id: str,
    now: float | datetime | None = None,
    *,
    leeway_s: float = 0.0,
    max_lifetime_s: float = 10.0,
    replay_cache: ReplayCache | None = None,
    check_replay: bool = True,
) -> UnlockClaims:
    """Check an unlock token offline, as a door controller must before opening.

    Checks: compact JWT form, header ``alg`` is ``HS256`` (nothing else, never ``none``), no ``crit``
    header, HMAC-SHA256 signature with the door's key (constant-time compare), ``iss`` is ``facegate``,
    ``aud`` is ``door_id`` (or a list holding it), ``exp`` not reached, ``exp - iat`` at most
    ``max_lifetime_s``, ``sub`` and ``jti`` present, and ``jti`` not seen before (replay protection is on by
    default: a token opens the door once).

    Args:
        token: the ``unlock_token`` of a grant decision.
        unlock_key: the door's key from ``create_door`` (base64url of 32 bytes).
        door_id: this door's id.
        now: current time as unix seconds or an aware datetime; default: the system clock.
        leeway_s: seconds of clock skew tolerated past ``exp``, 0 to :data:`MAX_LEEWAY_S` (keep the
            controller's clock on NTP).
        max_lifetime_s: longest accepted ``exp - iat`` in seconds, above 0 and at most :data:`MAX_LIFETIME_S`
            (the contract guarantees ≤ 10).
        replay_cache: remembers accepted ``jti`` values; default: :data:`DEFAULT_REPLAY_CACHE`, shared by the
            whole process. Pass your own when one process serves several controllers that must not share.
        check_replay: False turns replay protection off (only for a controller that keeps its own record of
            ``jti`` values, as it must then).

    Returns:
        The verified claims.

    Raises:
        UnlockTokenError: a subclass naming why the door must stay shut (see ``code``).
        ValueError: ``unlock_key`` is not base64url of 32 bytes, or ``leeway_s``/``max_lifetime_s`` is out of
            bounds (configuration errors, not token errors).
    """
    if not 0.0 <= leeway_s <= MAX_LEEWAY_S:
        raise ValueError(f"leeway_s must be between 0 and {MAX_LEEWAY_S:g} seconds, got {leeway_s!r}")
    if not 0.0 < max_lifetime_s <= MAX_LIFETIME_S:
        raise ValueError(f"max_lifetime_s must be above 0 and at most {MAX_LIFETIME_S:g} seconds")
    key = decode_unlock_key(unlock_key)
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise MalformedUnlockTokenError("malformed", "expected three dot-separated parts")
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(header_segment, "header")
    if header.get("alg") != "HS256":
        raise UnlockTokenSignatureError("unsupported_algorithm", f"alg must be HS256, got {header.get('alg')!r}")
    if "crit" in header:
        raise UnlockTokenSignatureError("unsupported_algorithm", "critical header extensions are not supported")
    try:
        signature = _b64url_decode(signature_segment)
    except (ValueError, binascii.Error):
        raise MalformedUnlockTokenError("malformed", "the signature is not base64url") from None
    expected = hmac.new(key, f"{header_segment}.{payload_segment}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise UnlockTokenSignatureError("invalid_signature", "the signature does not match this door's key")
    claims = _json_object(payload_segment, "payload")

    if claims.get("iss") != ISSUER:
        raise UnlockTokenClaimsError("invalid_issuer", f"iss must be {ISSUER!r}")
    audience = claims.get("aud")
    audiences = tuple(audience) if isinstance(audience, list) else (audience,)
    if door_id not in audiences:
        raise UnlockTokenClaimsError("wrong_audience", "the token was issued for another door")
    exp, iat = _numeric(claims, "exp"), _numeric(claims, "iat")
    current = time.time() if now is None else now.timestamp() if isinstance(now, datetime) else float(now)
    if current >= exp + leeway_s:
        raise UnlockTokenClaimsError("expired", "the token has expired")
    if exp - iat > max_lifetime_s:
        raise UnlockTokenClaimsError("lifetime_too_long", f"exp - iat exceeds {max_lifetime_s} s")
    sub, jti = _text(claims, "sub"), _text(claims, "jti")
    cache = DEFAULT_REPLAY_CACHE if replay_cache is None else replay_cache
    if check_replay and not cache.check_and_remember(jti, exp + leeway_s, current):
        raise UnlockTokenReplayError("replayed", "this token was already used")
    standard = {"iss", "aud", "sub", "iat", "exp", "jti"}
    return UnlockClaims(
        iss=ISSUER,
        aud=tuple(str(item) for item in audience) if isinstance(audience, list) else door_id,
        sub=sub,
        iat=iat,
        exp=exp,
        jti=jti,
        extra={name: value for name, value in claims.items() if name not in standard},
    )

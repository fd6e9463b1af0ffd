"""Random identifiers, invite tokens, claim codes and door unlock tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

CLAIM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: no I, L, O, U — easy to read aloud and type."""
CLAIM_LENGTH = 8
"""8 characters x 5 bits = 40 bits; guessing is further limited by per-terminal rate limits."""
_CLAIM_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str, length: int = 16) -> str:
    """A random opaque id such as ``site_3k9x...`` (``length`` base32 characters, 5 bits each)."""
    return f"{prefix}_{''.join(secrets.choice(_ID_ALPHABET) for _ in range(length))}"


def new_invite_token() -> str:
    """A 256-bit invite token, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SHA-256 of an invite token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_invite_token(token: str) -> bool:
    """Cheap shape check (43 base64url characters) before any storage lookup."""
    return len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)


def new_claim_code() -> str:
    """An 8-character claim code from :data:`CLAIM_ALPHABET`."""
    return "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_LENGTH))


def normalize_claim_code(raw: str) -> str | None:
    """Canonical form of a typed or scanned claim code, or None if it cannot be one.

    Case-insensitive; spaces and dashes are ignored; O/I/L/U are read as 0/1/1/V.
    """
    code = raw.upper().replace("-", "").replace(" ", "").translate(_CLAIM_FOLD)
    if len(code) != CLAIM_LENGTH or any(c not in CLAIM_ALPHABET for c in code):
        return None
    return code


def claim_hash(key: bytes, code: str) -> str:
    """Keyed hash of a normalised claim code (hex HMAC-SHA256); the key never leaves memory."""
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_unlock_token(key: bytes, door_id: str, decision_id: str, now: datetime, ttl_seconds: int) -> str:
    """An HS256 JWT that tells door ``door_id`` to open, valid for ``ttl_seconds`` (<= 10).

    Claims: ``iss`` "facegate", ``aud`` door id, ``sub`` decision id, ``iat``, ``exp``, ``jti``.
    """
    issued = int(now.timestamp())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": "facegate",
        "aud": door_id,
        "sub": decision_id,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_urlsafe(12),
    }
    encoded_header = _b64url(json.dumps(header, separators=(",", ":")).encode())
    encoded_claims = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{encoded_header}.{encoded_claims}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def read_unlock_token(token: str, key: bytes, door_id: str, now: datetime) -> dict[str, Any] | None:
    """Check an unlock token as a door controller would; returns its claims or None if invalid."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        expected = hmac.new(key, f"{header_b64}.{claims_b64}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64url_decode(signature_b64)):
            return None
        header = json.loads(_b64url_decode(header_b64))
        claims: dict[str, Any] = json.loads(_b64url_decode(claims_b64))
    except (ValueError, TypeError):
        return None
    if header.get("alg") != "HS256" or claims.get("aud") != door_id or claims.get("iss") != "facegate":
        return None
    if not isinstance(claims.get("exp"), int) or now.timestamp() >= claims["exp"]:
        return None
    return claims


def decode_key(text: str) -> bytes:
    """Inverse of :func:`encode_key` (base64url without padding)."""
    return _b64url_decode(text)


def encode_key(key: bytes) -> str:
    """A binary key as base64url without padding (how unlock keys are shown to admins)."""
    return _b64url(key)

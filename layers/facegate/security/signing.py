"""Door-terminal request signatures (HMAC-SHA256), as documented in README and docs/api.md.

``string_to_sign = METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body)) [\\n CLAIM]
[\\n challenge=CHALLENGE_ID] [\\n liveness=VERDICT]``
and the signature is the lowercase hex HMAC-SHA256 of that string under the terminal secret. The last two
lines are present only when the ``X-Facegate-Challenge`` / ``X-Facegate-Liveness`` headers are sent; their
``name=`` prefixes keep them apart from a claim line (a claim code never contains ``=``).
"""

from __future__ import annotations

import hashlib
import hmac

MIN_NONCE_LENGTH = 16
MAX_NONCE_LENGTH = 128


def canonical_string(
    method: str,
    path: str,
    timestamp: str,
    nonce: str,
    body: bytes,
    claim: str | None = None,
    challenge: str | None = None,
    liveness: str | None = None,
) -> str:
    """The exact string a terminal signs. ``path`` excludes the query string."""
    parts = [method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    if claim is not None:
        parts.append(claim)
    if challenge is not None:
        parts.append(f"challenge={challenge}")
    if liveness is not None:
        parts.append(f"liveness={liveness}")
    return "\n".join(parts)


def sign(secret: str, canonical: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``canonical`` (a :func:`canonical_string`) under ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signature_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), presented.strip().lower().encode())

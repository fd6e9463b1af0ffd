"""Kiosk pairing: an admin issues a one-time code for a terminal; the kiosk trades it for fresh credentials.

The code is 12 characters of Crockford base32 (60 bits; shown as ``XXXX-XXXX-XXXX``), accepted once, for at
most 10 minutes. Only its SHA-256 is stored. ``POST /pair`` needs no other credential, so it is throttled
per address block before the code is even looked up (:func:`pair`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from facegate.domain.models import AuditKind, PairingCode, Terminal
from facegate.errors import Conflict, NotFound, RateLimited
from facegate.usecases import admin, console
from facegate.usecases.audit import record_event
from facegate.usecases.context import Principal, Services
from facegate.usecases.visitor import address_block

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: no I, L, O or U (typed codes are read back with I/L -> 1 and O -> 0)."""
CODE_LENGTH = 12
MAX_TTL_SECONDS = 600
BLOCK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class NewPairing:
    pairing_code: str
    """``XXXX-XXXX-XXXX``; shown once (only its hash is stored)."""
    pairing_url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Paired:
    terminal: Terminal
    secret: str
    """The terminal's new HMAC secret: returned once, to the kiosk."""
    api_url: str


def new_code() -> str:
    """A fresh code, grouped ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(text: str) -> str | None:
    """The code's 12 characters (case, spaces and hyphens ignored; I/L read as 1, O as 0), or None when the
    text cannot be a code."""
    if len(text) > 64:
        return None
    cleaned = text.upper().replace("-", "").replace(" ", "").translate(str.maketrans("ILO", "110"))
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def code_hash(normalized: str) -> str:
    """Hex SHA-256 of a normalised code (what is stored)."""
    return hashlib.sha256(f"facegate-pairing|{normalized}".encode()).hexdigest()


def issue_pairing(services: Services, actor: Principal, site_id: str, terminal_id: str, base_url: str) -> NewPairing:
    """A one-time pairing code for a terminal of an active site (admins). Audited.

    ``base_url`` is the request's own origin (used when no public base URL is configured); the pairing URL
    is ``<origin>/kiosk?pair=<code>``.

    Raises:
        NotFound: unknown site, or no such terminal at this site.
        Conflict: ``site_retired``; ``terminal_revoked``.
    """
    actor.require_admin()
    admin.require_active_site(services, site_id)
    terminal = console.site_terminal(services, site_id, terminal_id)
    if terminal.revoked:
        raise Conflict("this terminal was revoked; create a new one", code="terminal_revoked")
    now = services.clock()
    ttl = max(1, min(services.settings.pairing_code_ttl_seconds, MAX_TTL_SECONDS))
    code = new_code()
    normalized = normalize_code(code)
    assert normalized is not None
    pairing = PairingCode(
        code_hash=code_hash(normalized),
        terminal_id=terminal_id,
        site_id=site_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl),
        issued_by=actor.subject,
    )
    services.ephemeral.put_pairing(pairing)
    record_event(
        services,
        site_id,
        AuditKind.PAIRING_ISSUED,
        actor.subject,
        terminal_id=terminal_id,
        details={"expires_in_s": str(ttl)},
    )
    origin = (services.settings.public_base_url or base_url).rstrip("/")
    return NewPairing(pairing_code=code, pairing_url=f"{origin}/kiosk?pair={code}", expires_at=pairing.expires_at)


def _refuse(services: Services, block_key: str, now: datetime) -> NotFound:
    if services.ephemeral.hit(block_key, 60, now) >= services.settings.pair_attempts_per_minute:
        services.ephemeral.block(block_key, now + timedelta(seconds=BLOCK_SECONDS))
    return NotFound("this pairing code is not valid (unknown, used or expired)", code="pairing_code_invalid")


def pair(services: Services, raw_code: str, source: str, base_url: str) -> Paired:
    """Trade a pairing code for the terminal's credentials: a fresh key id and secret (any earlier key of
    the terminal stops working). Audited as ``terminal_paired``.

    Throttle: an address block (IPv4 address, IPv6 /64) that sent ``pair_attempts_per_minute`` invalid
    codes within a minute gets 429 for 60 s, before any lookup (valid codes included: a code has 60 bits,
    so the throttle is what keeps guessing hopeless).

    Raises:
        RateLimited: the address block is throttled.
        NotFound: ``pairing_code_invalid`` for an unknown, used or expired code, or a terminal or site that
            was revoked or retired since the code was issued.
    """
    now = services.clock()
    block_key = f"badpair#{address_block(source)}"
    until = services.ephemeral.blocked_until(block_key, now)
    if until is not None:
        raise RateLimited(
            "too many invalid pairing codes; wait a moment", retry_after=int((until - now).total_seconds()) + 1
        )
    normalized = normalize_code(raw_code)
    pairing = services.ephemeral.take_pairing(code_hash(normalized), now) if normalized else None
    if pairing is None:
        raise _refuse(services, block_key, now)
    terminal = services.repo.get_terminal(pairing.terminal_id)
    site = services.repo.get_site(pairing.site_id)
    if terminal is None or terminal.revoked or site is None or site.retired_at is not None:
        raise NotFound("this pairing code is not valid (unknown, used or expired)", code="pairing_code_invalid")
    new = console.new_key(services, terminal, paired=True)
    record_event(
        services,
        site.site_id,
        AuditKind.TERMINAL_PAIRED,
        f"terminal:{terminal.terminal_id}",
        terminal_id=terminal.terminal_id,
        details={"issued_by": pairing.issued_by},
    )
    api_url = (services.settings.public_base_url or base_url).rstrip("/")
    return Paired(terminal=new.terminal, secret=new.secret, api_url=api_url)

"""Writing audit records: one helper so every use case records the same shape."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from facegate.domain.models import AuditKind, AuditRecord
from facegate.errors import FacegateError
from facegate.security import tokens
from facegate.usecases.context import Services

DECIMALS = {"similarity": 4, "threshold": 4, "latency_ms": 1}
"""Decimals an audit record keeps of its measurements (cosine values in [-1, 1], milliseconds)."""


def record_event(
    services: Services, site_id: str, kind: AuditKind, actor: str, *, event_id: str | None = None, **facts: Any
) -> AuditRecord:
    """Append one audit record (never an image, template, token or secret) and return it.

    ``facts`` are the record's other fields by name (see :class:`AuditRecord`: door, terminal, visitor,
    decision, reason, mode, similarity, threshold, model id, latency, details); None leaves a field at its
    default; the measurements are rounded to :data:`DECIMALS`. The record expires after the configured audit
    retention (days).

    Raises:
        TypeError: a fact that is not a field of :class:`AuditRecord`.
    """
    now = services.clock()
    facts = {name: value for name, value in facts.items() if value is not None}  # None: the field's default
    rounded = {name: round(facts[name], places) for name, places in DECIMALS.items() if name in facts}
    record = AuditRecord(
        site_id=site_id,
        event_id=event_id or tokens.new_id("evt"),
        kind=kind,
        at=now,
        expires_at=now + timedelta(days=services.settings.audit_retention_days),
        actor=actor,
        **{**facts, **rounded},
    )
    services.audit.record(record)
    return record


TERMINAL_SIGNALS = frozenset(
    {
        "invalid_signature",
        "key_revoked",
        "clock_skew",
        "nonce_reused",
        "door_not_allowed",
        "cooling_down",
        "rate_limited",
    }
)
"""Refusal codes of door requests that name a known terminal key: each is audited on the terminal's site."""
UNAUTHENTICATED = frozenset({"invalid_signature", "key_revoked", "clock_skew", "nonce_reused"})
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def record_terminal_refusal(
    services: Services, key_id: str | None, door_id: str, error: FacegateError
) -> AuditRecord | None:
    """Audit a refused door request that a known terminal key is named in (issue 12, item 5).

    401 with a known key id (bad signature, revoked key, clock skew, replayed nonce), 403
    ``door_not_allowed`` and 429 ``cooling_down``/``rate_limited`` become a ``refused`` audit record on
    the terminal's site: actor, terminal, door, reason = the error code, and whether the request was
    authenticated. Never the signature, nonce, secret or body. Unknown keys name no site: they are
    logged and counted (``Refused`` metric) only. At most ``refusal_audits_per_minute`` records per
    terminal and minute, so a flood of forged requests cannot flood the audit table; the rest are
    still logged and counted. Returns the record, or None when nothing was audited.
    """
    if error.code not in TERMINAL_SIGNALS or not key_id or not _KEY_ID.fullmatch(key_id):
        return None
    terminal = services.repo.get_terminal_by_key(key_id)
    if terminal is None:
        return None
    now = services.clock()
    recent = services.ephemeral.hit(f"refusals#{terminal.terminal_id}", 60, now)
    if recent > services.settings.refusal_audits_per_minute:
        return None
    return record_event(
        services,
        terminal.site_id,
        AuditKind.REFUSED,
        f"terminal:{terminal.terminal_id}",
        terminal_id=terminal.terminal_id,
        door_id=door_id,
        decision="refused",
        reason=error.code,
        details={"authenticated": "no" if error.code in UNAUTHENTICATED else "yes"},
    )

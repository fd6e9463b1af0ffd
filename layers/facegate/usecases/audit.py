"""Writing audit records: one helper so every use case records the same shape."""

from __future__ import annotations

from datetime import timedelta

from facegate.domain.models import AuditKind, AuditRecord
from facegate.security import tokens
from facegate.usecases.context import Services


def record_event(
    services: Services,
    site_id: str,
    kind: AuditKind,
    actor: str,
    *,
    visitor_id: str | None = None,
    terminal_id: str | None = None,
    door_id: str | None = None,
    decision: str | None = None,
    reason: str | None = None,
    mode: str | None = None,
    similarity: float | None = None,
    threshold: float | None = None,
    model_id: str | None = None,
    latency_ms: float | None = None,
    event_id: str | None = None,
    details: dict[str, str] | None = None,
) -> AuditRecord:
    """Append one audit record (never an image, template, token or secret) and return it.

    ``similarity``/``threshold`` are cosine values in [-1, 1]; ``latency_ms`` is milliseconds.
    The record expires after the configured audit retention (days).
    """
    now = services.clock()
    record = AuditRecord(
        site_id=site_id,
        event_id=event_id or tokens.new_id("evt"),
        kind=kind,
        at=now,
        expires_at=now + timedelta(days=services.settings.audit_retention_days),
        actor=actor,
        door_id=door_id,
        terminal_id=terminal_id,
        visitor_id=visitor_id,
        decision=decision,
        reason=reason,
        mode=mode,
        similarity=None if similarity is None else round(similarity, 4),
        threshold=None if threshold is None else round(threshold, 4),
        model_id=model_id,
        latency_ms=None if latency_ms is None else round(latency_ms, 1),
        details=details or {},
    )
    services.audit.record(record)
    return record

"""The DynamoDB adapter of :class:`~facegate.ports.AuditLog` (audit table, range queries by time)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from facegate.domain.models import (
    AuditKind,
    AuditRecord,
    parse_rfc3339,
)
from facegate.errors import InvalidRequest
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

from facegate.adapters.dynamodb._client import TTL_ATTRIBUTE, unavailable_on_transient
from facegate.adapters.dynamodb.codecs import decode, encode, epoch_seconds, opt_float, rfc3339_text

_AUDIT_OPTIONAL = (
    "door_id",
    "terminal_id",
    "visitor_id",
    "decision",
    "reason",
    "mode",
    "similarity",
    "threshold",
    "model_id",
    "latency_ms",
)


class DynamoAuditLog:
    """Audit records, partitioned by site and sorted by time (``sk = <rfc3339>#<event_id>``)."""

    def __init__(self, client: DynamoDBClient, settings: Settings) -> None:
        self._client = client
        self._table = settings.audit_table

    def record(self, record: AuditRecord) -> None:
        """Append one record (a conditional put: records are never overwritten)."""
        values: dict[str, Any] = {
            "pk": record.site_id,
            "sk": f"{rfc3339_text(record.at)}#{record.event_id}",
            "event_id": record.event_id,
            "kind": record.kind.value,
            "at": rfc3339_text(record.at),
            "actor": record.actor,
            "details": dict(record.details) if record.details else None,
            TTL_ATTRIBUTE: epoch_seconds(record.expires_at),
        }
        values.update({name: getattr(record, name) for name in _AUDIT_OPTIONAL})
        with unavailable_on_transient():
            self._client.put_item(
                TableName=self._table, Item=encode(values), ConditionExpression="attribute_not_exists(pk)"
            )

    def query(
        self, site_id: str, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        """Records with ``start <= at < end``, oldest first, at most ``limit`` (>= 1).

        The cursor is the base64url of the last returned sort key, checked on the way back in.

        Raises:
            InvalidRequest: the cursor is not one this method returned for this range.
        """
        low, high = rfc3339_text(start), rfc3339_text(end)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": site_id}, ":low": {"S": low}, ":high": {"S": high}},
            "ConsistentRead": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": site_id}, "sk": {"S": _decode_cursor(cursor, low, high)}}
        rows: list[dict[str, Any]] = []
        while len(rows) <= limit:
            kwargs["Limit"] = limit + 1 - len(rows)
            with unavailable_on_transient():
                page = self._client.query(**kwargs)
            rows.extend(decode(item) for item in page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(str(rows[-1]["sk"])) if more and rows else None
        return [_audit(values) for values in rows], next_cursor


def _encode_cursor(sort_key: str) -> str:
    raw = json.dumps({"sk": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str, low: str, high: str) -> str:
    invalid = InvalidRequest("next_token is not valid for this query", code="invalid_request")
    if len(cursor) > 512:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    sort_key = data.get("sk") if isinstance(data, dict) else None
    if not isinstance(sort_key, str) or "#" not in sort_key or not low <= sort_key <= high:
        raise invalid
    return sort_key


def _audit(values: Mapping[str, Any]) -> AuditRecord:
    details = values.get("details") or {}
    return AuditRecord(
        site_id=str(values["pk"]),
        event_id=str(values["event_id"]),
        kind=AuditKind(str(values["kind"])),
        at=parse_rfc3339(str(values["at"])),
        expires_at=datetime.fromtimestamp(int(values[TTL_ATTRIBUTE]), UTC),
        actor=str(values["actor"]),
        door_id=values.get("door_id"),
        terminal_id=values.get("terminal_id"),
        visitor_id=values.get("visitor_id"),
        decision=values.get("decision"),
        reason=values.get("reason"),
        mode=values.get("mode"),
        similarity=opt_float(values, "similarity"),
        threshold=opt_float(values, "threshold"),
        model_id=values.get("model_id"),
        latency_ms=opt_float(values, "latency_ms"),
        details={str(k): str(v) for k, v in details.items()},
    )


# --- ephemeral ------------------------------------------------------------------------------------

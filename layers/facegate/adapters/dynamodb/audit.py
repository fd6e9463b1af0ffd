"""The DynamoDB adapter of :class:`~facegate.ports.AuditLog` (audit table, range queries by time)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from facegate.domain.models import AuditFilter, AuditQuery, AuditRecord
from facegate.errors import InvalidRequest
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

from facegate.adapters.dynamodb._client import TTL_ATTRIBUTE, pages, unavailable_on_transient
from facegate.adapters.dynamodb.codecs import decode, encode, epoch_seconds, fields_of, record_of, rfc3339_text


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
            **fields_of(record, skip=("site_id", "expires_at")),
            TTL_ATTRIBUTE: epoch_seconds(record.expires_at),
        }
        with unavailable_on_transient():
            self._client.put_item(
                TableName=self._table, Item=encode(values), ConditionExpression="attribute_not_exists(pk)"
            )

    def query(self, query: AuditQuery, limit: int, cursor: str | None) -> tuple[list[AuditRecord], str | None]:
        """The records ``query`` selects (its filters as a FilterExpression), oldest first, at most ``limit``
        (>= 1).

        The cursor is the base64url of the last returned sort key, checked on the way back in.

        Raises:
            InvalidRequest: the cursor is not one this method returned for this range.
        """
        site_id = query.site_id
        low, high = rfc3339_text(query.start), rfc3339_text(query.end)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": site_id}, ":low": {"S": low}, ":high": {"S": high}},
            "ConsistentRead": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": site_id}, "sk": {"S": _decode_cursor(cursor, low, high)}}
        filtered = _filter_expression(query.filters, kwargs)
        rows: list[dict[str, Any]] = []

        def page_limit() -> int:
            """One more row than the page still needs (to see whether there is more); filtered: at least 200."""
            wanted = limit + 1 - len(rows)
            return max(wanted, 200) if filtered else wanted

        kwargs["Limit"] = page_limit()
        for page in pages(self._client.query, kwargs):
            rows.extend(decode(item) for item in page.get("Items", []))
            if len(rows) > limit:
                break
            kwargs["Limit"] = page_limit()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(str(rows[-1]["sk"])) if more and rows else None
        return [_audit(values) for values in rows], next_cursor


def _filter_expression(filters: AuditFilter | None, kwargs: dict[str, Any]) -> bool:
    """Add the FilterExpression of ``filters`` to the Query ``kwargs``; True when there is one."""
    if filters is None:
        return False
    wanted = {"door_id": filters.door_id, "decision": filters.decision}
    wanted["kind"] = None if filters.kind is None else filters.kind.value
    terms = [(name, value) for name, value in wanted.items() if value is not None]
    if not terms:
        return False
    kwargs["FilterExpression"] = " AND ".join(f"#f_{name} = :f_{name}" for name, _ in terms)
    kwargs["ExpressionAttributeNames"] = {f"#f_{name}": name for name, _ in terms}
    kwargs["ExpressionAttributeValues"].update({f":f_{name}": {"S": value} for name, value in terms})
    return True


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
    expires_at = datetime.fromtimestamp(int(values[TTL_ATTRIBUTE]), UTC)
    return record_of(AuditRecord, values, site_id=str(values["pk"]), expires_at=expires_at)


# --- ephemeral ------------------------------------------------------------------------------------

"""The DynamoDB adapter of :class:`~facegate.ports.Ephemeral` (nonces, sliding counters, blocks; all with TTL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from facegate.domain.models import Challenge, PairingCode, parse_rfc3339
from facegate.ports import sliding_count
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

from facegate.adapters.dynamodb._client import TTL_ATTRIBUTE, error_code, unavailable_on_transient
from facegate.adapters.dynamodb.codecs import decode, encode, epoch_seconds, fields_of, record_of, rfc3339_text


class DynamoEphemeral:
    """Nonces, sliding-window counters and blocks in the ephemeral table, all with TTL."""

    def __init__(self, client: DynamoDBClient, settings: Settings) -> None:
        self._client = client
        self._table = settings.ephemeral_table

    def claim_nonce(self, scope: str, nonce: str, expires_at: datetime) -> bool:
        """Conditional put: True the first time, False on replay."""
        try:
            with unavailable_on_transient():
                self._client.put_item(
                    TableName=self._table,
                    Item=encode({"pk": f"NONCE#{scope}#{nonce}", TTL_ATTRIBUTE: epoch_seconds(expires_at)}),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def hit(self, counter: str, window_seconds: int, now: datetime) -> int:
        """One atomic ``UpdateItem``: ``ADD 1`` to this fixed window's count in the counter's item (which also
        holds the previous window's count; older ones are removed) and return both; the result is the
        sliding-window estimate (:func:`facegate.ports.sliding_count`)."""
        window = int(now.timestamp()) // window_seconds
        with unavailable_on_transient():
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"COUNT#{counter}#{window_seconds}"}},
                UpdateExpression="ADD #now :one SET #ttl = :ttl REMOVE #old",
                ExpressionAttributeNames={
                    "#now": f"w{window}",
                    "#old": f"w{window - 2}",
                    "#ttl": TTL_ATTRIBUTE,
                },
                ExpressionAttributeValues=encode({":one": 1, ":ttl": (window + 2) * window_seconds}),
                ReturnValues="ALL_NEW",
            )
        values = decode(response["Attributes"])
        current = int(values[f"w{window}"])
        before = int(values.get(f"w{window - 1}", 0))
        return sliding_count(current, before, window_seconds, now)

    def block(self, key: str, until: datetime) -> None:
        with unavailable_on_transient():
            self._client.put_item(
                TableName=self._table,
                Item=encode({"pk": f"BLOCK#{key}", "until": rfc3339_text(until), TTL_ATTRIBUTE: epoch_seconds(until)}),
            )

    def blocked_until(self, key: str, now: datetime) -> datetime | None:
        with unavailable_on_transient():
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": f"BLOCK#{key}"}}, ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        until = parse_rfc3339(str(decode(item)["until"]))
        return until if until > now else None

    def _put_new(self, pk: str, expires_at: datetime, fields: dict[str, Any]) -> None:
        """One conditional PutItem of a new item ``pk`` with ``fields``, deleted by TTL after ``expires_at``."""
        with unavailable_on_transient():
            self._client.put_item(
                TableName=self._table,
                Item=encode(
                    {"pk": pk, **fields, "until": rfc3339_text(expires_at), TTL_ATTRIBUTE: epoch_seconds(expires_at)}
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def _take(self, pk: str) -> dict[str, Any] | None:
        """One conditional DeleteItem (``attribute_exists(pk)``) returning the old item's values: of concurrent
        takes only one gets it (single use; the condition makes the losers fail rather than delete nothing, also
        on DynamoDB Local, whose unconditional deletes all return the item)."""
        try:
            with unavailable_on_transient():
                response = self._client.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": pk}},
                    ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        item = response.get("Attributes")
        return decode(item) if item else None

    def _put_record(self, pk: str, record: PairingCode | Challenge, key: str) -> None:
        """:meth:`_put_new` of a record's fields (but its ``key`` field, which is in ``pk``, and its
        ``expires_at``, stored as ``until``)."""
        self._put_new(pk, record.expires_at, fields_of(record, skip=(key, "expires_at")))

    def _take_record[R: (PairingCode, Challenge)](self, pk: str, cls: type[R], now: datetime, **key: str) -> R | None:
        """Single use (:meth:`_take`) of a record :meth:`_put_record` stored; TTL deletion lags, so the expiry is
        checked here too."""
        values = self._take(pk)
        if values is None:
            return None
        expires_at = parse_rfc3339(str(values["until"]))
        return record_of(cls, values, expires_at=expires_at, **key) if expires_at > now else None

    def put_pairing(self, pairing: PairingCode) -> None:
        """One conditional PutItem (``PAIR#<code hash>``), deleted by TTL after ``expires_at``."""
        self._put_record(f"PAIR#{pairing.code_hash}", pairing, "code_hash")

    def take_pairing(self, code_hash: str, now: datetime) -> PairingCode | None:
        return self._take_record(f"PAIR#{code_hash}", PairingCode, now, code_hash=code_hash)

    def put_challenge(self, challenge: Challenge) -> None:
        """One conditional PutItem (``CHALLENGE#<id>``), deleted by TTL after ``expires_at``."""
        self._put_record(f"CHALLENGE#{challenge.challenge_id}", challenge, "challenge_id")

    def take_challenge(self, challenge_id: str, now: datetime) -> Challenge | None:
        return self._take_record(f"CHALLENGE#{challenge_id}", Challenge, now, challenge_id=challenge_id)

    def remember_fingerprints(
        self, scope: str, fingerprints: Sequence[int], window_seconds: int, now: datetime
    ) -> None:
        """One UpdateItem on the scope's item: append to this window's list, drop the one before the previous
        (like :meth:`hit`), so the item stays small."""
        if not fingerprints:
            return
        window = int(now.timestamp()) // window_seconds
        with unavailable_on_transient():
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"PRINTS#{scope}#{window_seconds}"}},
                UpdateExpression="SET #now = list_append(if_not_exists(#now, :empty), :new), #ttl = :ttl REMOVE #old",
                ExpressionAttributeNames={"#now": f"w{window}", "#old": f"w{window - 2}", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":new": {"L": [{"N": str(int(value))} for value in fingerprints]},
                    ":ttl": {"N": str((window + 2) * window_seconds)},
                },
            )

    def recent_fingerprints(self, scope: str, window_seconds: int, now: datetime) -> list[int]:
        """One strongly consistent GetItem of the scope's item: the current and the previous window's lists."""
        window = int(now.timestamp()) // window_seconds
        with unavailable_on_transient():
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": f"PRINTS#{scope}#{window_seconds}"}}, ConsistentRead=True
            ).get("Item")
        if item is None:
            return []
        values = decode(item)
        return [int(value) for name in (f"w{window - 1}", f"w{window}") for value in values.get(name, [])]

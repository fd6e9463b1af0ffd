"""DynamoDB adapters of :class:`~facegate.ports.Repository`, :class:`~facegate.ports.AuditLog` and
:class:`~facegate.ports.Ephemeral`, plus the Powertools idempotency store.

They honour exactly the contracts of :mod:`facegate.adapters.memory`; the shared contract suite
(``tests/integration/test_adapters_contract.py``) runs against both.

Table design (key attributes are always ``pk``/``sk``, strings; ``expires_at`` is the TTL attribute,
epoch seconds; times are stored as fixed-width RFC 3339 strings with microseconds, which sort
lexicographically in time order; ciphertexts are Binary attributes)::

    directory   pk                    sk            item
                SITE#<site_id>        SITE          site (+ ``template_version``, bumped by enroll/erase)
                SITE#<site_id>        DOOR#<door>   door (``list_doors`` = one Query on the site's pk)
                TERMINAL#<id>         TERMINAL      terminal
                KEY#<key_id>          KEY           copy of the terminal (one read per signed request;
                                                    written and revoked in the same transaction)
                INVITE#<invite_id>    INVITE        invite (+ ``rev``, bumped on every change), TTL
                TOKEN#<sha256 hex>    TOKEN         token-hash lookup -> invite_id, TTL
    templates   pk = site_id          sk = visitor_id   encrypted template, TTL (candidate cache = one
                                                    paginated Query per site)
    audit       pk = site_id          sk = <rfc3339>#<event_id>   record, TTL (range query on sk)
    ephemeral   pk = NONCE#<scope>#<nonce> | COUNT#<counter>#<window seconds> | BLOCK#<key>
                     (a counter item holds w<window> counts: this window's and the previous one)
                     | <powertools idempotency key>            everything with TTL

Invites, token items and templates expire at ``valid_until + retention_grace_seconds``; audit
records at their ``expires_at``. ``enroll`` and ``erase_visitor`` are single ``TransactWriteItems``
calls across the templates and directory tables, so an erasure racing an enrollment can never
leave a template behind (enroll is conditional on the consent that erase removes).

Every call goes through :func:`unavailable_on_transient`: once botocore's standard-mode retries
(jittered exponential backoff) are exhausted on throttling, 5xx or a timeout, the adapter raises
:class:`~facegate.errors.ServiceUnavailable` and the API answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from facegate.domain.models import (
    AuditKind,
    AuditRecord,
    CandidateRow,
    Consent,
    Door,
    Invite,
    SecurityLevel,
    Site,
    StoredTemplate,
    Terminal,
    parse_rfc3339,
)
from facegate.errors import Conflict, Gone, InvalidRequest, NotFound, ServiceUnavailable
from facegate.ports import sliding_count
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

MAX_ATTEMPTS = 3
"""Attempts per AWS call (botocore standard mode: the first try plus two jittered retries)."""
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 3.0
RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait, seconds."""
TRANSACTION_ATTEMPTS = 5
"""Attempts of a transaction cancelled by a concurrent transaction on the same items."""

TTL_ATTRIBUTE = "expires_at"
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
    }
)
"""AWS error codes that mean "try again later" (after botocore's own retries)."""
RETRYABLE_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@contextmanager
def unavailable_on_transient() -> Iterator[None]:
    """Wrap one AWS call: transient failures left after botocore's retries become ServiceUnavailable.

    Throttling, 5xx responses, connection failures and timeouts raise
    :class:`~facegate.errors.ServiceUnavailable` (``retry_after`` in seconds); every other error
    propagates unchanged (callers map the ones they expect, e.g. ConditionalCheckFailed).
    """
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in TRANSIENT_ERROR_CODES or status >= 500:
            raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
        raise
    except (HTTPClientError, BotoConnectionError) as exc:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per-item reason codes of a TransactionCanceledException, in TransactItems order."""
    reasons = exc.response.get("CancellationReasons")
    if isinstance(reasons, list) and reasons:
        return [str(reason.get("Code", "None")) for reason in reasons]
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if "[" in message and message.endswith("]"):
        return [part.strip() for part in message[message.rindex("[") + 1 : -1].split(",")]
    return []


def _backoff(attempt: int) -> None:
    """Full-jitter pause before re-running a conflicted transaction (at most ~0.4 s)."""
    time.sleep(random.uniform(0, min(0.4, 0.025 * 2**attempt)))


@dataclass(frozen=True, slots=True)
class AwsClients:
    """The boto3 clients the adapters share (one set per warm Lambda instance)."""

    dynamodb: DynamoDBClient
    kms: KMSClient

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> AwsClients:
        """Clients for ``settings.aws_region``, pointed at emulators when endpoints are configured.

        Args:
            max_attempts: total attempts per call (>= 1), botocore standard retry mode.
            connect_timeout, read_timeout: seconds.
        """
        config = Config(
            region_name=settings.aws_region,
            # botocore's "max_attempts" counts retries; "total_max_attempts" counts every attempt.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
        )
        session = boto3.session.Session()
        dynamodb = session.client(
            "dynamodb",
            region_name=settings.aws_region,
            endpoint_url=settings.dynamodb_endpoint_url or settings.aws_endpoint_url,
            config=config,
        )
        kms = session.client(
            "kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
        )
        return cls(dynamodb=dynamodb, kms=kms)


# --- encoding -----------------------------------------------------------------------------------


def _time(moment: datetime) -> str:
    """Fixed-width UTC RFC 3339 with microseconds: exact round trip, sorts in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(moment: datetime) -> int:
    """TTL value: epoch seconds, rounded up (an item never expires before ``moment``)."""
    return math.ceil(moment.timestamp())


def _number(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def encode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values; None values are left out, floats become Decimal."""
    item: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _number(value)
        item[name] = _SERIALIZER.serialize(value)
    return item


def decode(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values to Python values (top-level Binary to bytes, numbers as Decimal)."""
    values: dict[str, Any] = {}
    for name, raw in item.items():
        values[name] = bytes(raw["B"]) if "B" in raw else _DESERIALIZER.deserialize(raw)
    return values


def _opt_time(values: Mapping[str, Any], name: str) -> datetime | None:
    raw = values.get(name)
    return None if raw is None else parse_rfc3339(str(raw))


def _opt_float(values: Mapping[str, Any], name: str) -> float | None:
    raw = values.get(name)
    return None if raw is None else float(raw)


def _strings(values: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return tuple(str(item) for item in values.get(name) or ())


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _site_key(site_id: str) -> dict[str, Any]:
    return _key(f"SITE#{site_id}", "SITE")


def _invite_key(invite_id: str) -> dict[str, Any]:
    return _key(f"INVITE#{invite_id}", "INVITE")


def _site_item(site: Site) -> dict[str, Any]:
    return encode(
        {
            "pk": f"SITE#{site.site_id}",
            "sk": "SITE",
            "kind": "site",
            "site_id": site.site_id,
            "name": site.name,
            "timezone": site.timezone,
            "created_at": _time(site.created_at),
            "data_key_blob": site.data_key_blob,
            "security_level": site.security_level.value,
            "template_version": site.template_version,
        }
    )


def _site(values: Mapping[str, Any]) -> Site:
    return Site(
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        timezone=str(values["timezone"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        data_key_blob=bytes(values["data_key_blob"]),
        security_level=SecurityLevel(str(values.get("security_level", SecurityLevel.STANDARD.value))),
        template_version=int(values.get("template_version", 0)),
    )


def _door_item(door: Door) -> dict[str, Any]:
    return encode(
        {
            "pk": f"SITE#{door.site_id}",
            "sk": f"DOOR#{door.door_id}",
            "kind": "door",
            "door_id": door.door_id,
            "site_id": door.site_id,
            "name": door.name,
            "created_at": _time(door.created_at),
            "unlock_key_blob": door.unlock_key_blob,
        }
    )


def _door(values: Mapping[str, Any]) -> Door:
    return Door(
        door_id=str(values["door_id"]),
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        unlock_key_blob=bytes(values["unlock_key_blob"]),
    )


def _terminal_item(terminal: Terminal, pk: str, sk: str) -> dict[str, Any]:
    return encode(
        {
            "pk": pk,
            "sk": sk,
            "kind": "terminal",
            "terminal_id": terminal.terminal_id,
            "site_id": terminal.site_id,
            "name": terminal.name,
            "door_ids": list(terminal.door_ids),
            "key_id": terminal.key_id,
            "secret_blob": terminal.secret_blob,
            "created_at": _time(terminal.created_at),
            "revoked_at": None if terminal.revoked_at is None else _time(terminal.revoked_at),
        }
    )


def _terminal(values: Mapping[str, Any]) -> Terminal:
    return Terminal(
        terminal_id=str(values["terminal_id"]),
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        door_ids=_strings(values, "door_ids"),
        key_id=str(values["key_id"]),
        secret_blob=bytes(values["secret_blob"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        revoked_at=_opt_time(values, "revoked_at"),
    )


def _invite(values: Mapping[str, Any]) -> Invite:
    consent = None
    if values.get("consent_version") is not None:
        consent = Consent(version=str(values["consent_version"]), accepted_at=parse_rfc3339(str(values["consent_at"])))
    claim = values.get("claim_code_ct")
    return Invite(
        invite_id=str(values["invite_id"]),
        site_id=str(values["site_id"]),
        door_ids=_strings(values, "door_ids"),
        valid_from=parse_rfc3339(str(values["valid_from"])),
        valid_until=parse_rfc3339(str(values["valid_until"])),
        token_hash=str(values["token_hash"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        created_by=str(values["created_by"]),
        display_name=None if values.get("display_name") is None else str(values["display_name"]),
        consent=consent,
        enrolled_at=_opt_time(values, "enrolled_at"),
        claim_code_ct=None if claim is None else bytes(claim),
        erased_at=_opt_time(values, "erased_at"),
        revoked_at=_opt_time(values, "revoked_at"),
    )


def _template(values: Mapping[str, Any]) -> StoredTemplate:
    return StoredTemplate(
        site_id=str(values["pk"]),
        visitor_id=str(values["sk"]),
        ciphertext=bytes(values["ciphertext"]),
        model_id=str(values["model_id"]),
        n_images=int(values["n_images"]),
        door_ids=_strings(values, "door_ids"),
        valid_from=parse_rfc3339(str(values["valid_from"])),
        valid_until=parse_rfc3339(str(values["valid_until"])),
        claim_hash=str(values["claim_hash"]),
        enrolled_at=parse_rfc3339(str(values["enrolled_at"])),
    )


# --- directory and templates ----------------------------------------------------------------------


CANDIDATE_PROJECTION = "sk, ciphertext, model_id, door_ids, valid_from, valid_until, claim_hash, n_images"


def template_item_of(template: StoredTemplate, expires_at: int) -> dict[str, Any]:
    """The templates-table item of a stored template (``expires_at``: TTL, epoch seconds)."""
    return encode(
        {
            "pk": template.site_id,
            "sk": template.visitor_id,
            "ciphertext": template.ciphertext,
            "model_id": template.model_id,
            "n_images": template.n_images,
            "door_ids": list(template.door_ids),
            "valid_from": _time(template.valid_from),
            "valid_until": _time(template.valid_until),
            "claim_hash": template.claim_hash,
            "enrolled_at": _time(template.enrolled_at),
            TTL_ATTRIBUTE: expires_at,
        }
    )


class DynamoRepository:
    """Directory and templates in two DynamoDB tables (see the module docstring for the key design)."""

    def __init__(self, client: DynamoDBClient, settings: Settings) -> None:
        self._client = client
        self._directory = settings.directory_table
        self._templates = settings.templates_table
        self._grace = timedelta(seconds=settings.retention_grace_seconds)

    def _get(self, table: str, key: dict[str, Any], projection: str | None = None) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {"TableName": table, "Key": key, "ConsistentRead": True}
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        with unavailable_on_transient():
            item = self._client.get_item(**kwargs).get("Item")
        return None if item is None else decode(item)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        with unavailable_on_transient():
            self._client.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)  # type: ignore[arg-type]

    def _expiry(self, valid_until: datetime) -> int:
        return _epoch(valid_until + self._grace)

    def put_site(self, site: Site) -> None:
        """Store a new site (Conflict if its id exists)."""
        try:
            with unavailable_on_transient():
                self._client.put_item(
                    TableName=self._directory, Item=_site_item(site), ConditionExpression="attribute_not_exists(pk)"
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("site exists") from exc
            raise

    def get_site(self, site_id: str) -> Site | None:
        values = self._get(self._directory, _site_key(site_id))
        return None if values is None else _site(values)

    def update_site(self, site_id: str, name: str | None, security_level: SecurityLevel | None) -> Site | None:
        """One conditional UpdateItem of the name and/or level (the template version is left alone)."""
        changes = {"name": name, "security_level": None if security_level is None else security_level.value}
        names = {f"#{field}": field for field, value in changes.items() if value is not None}
        values = {f":{field}": {"S": value} for field, value in changes.items() if value is not None}
        if not names:
            return self.get_site(site_id)
        try:
            with unavailable_on_transient():
                item = self._client.update_item(
                    TableName=self._directory,
                    Key=_site_key(site_id),
                    UpdateExpression="SET " + ", ".join(f"{n} = :{n[1:]}" for n in names),
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _site(decode(item["Attributes"]))

    def get_template_version(self, site_id: str) -> int | None:
        """One strongly consistent GetItem projected on ``template_version``; None for an unknown site."""
        with unavailable_on_transient():
            item = self._client.get_item(
                TableName=self._directory,
                Key=_site_key(site_id),
                ProjectionExpression="#v",
                ExpressionAttributeNames={"#v": "template_version"},
                ConsistentRead=True,
            ).get("Item")
        if item is None:
            return None
        return int(decode(item).get("template_version", 0))

    def put_door(self, door: Door) -> None:
        """Store (or replace) a door of an existing site (NotFound otherwise)."""
        try:
            self._transact(
                [
                    {
                        "ConditionCheck": {
                            "TableName": self._directory,
                            "Key": _site_key(door.site_id),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._directory, "Item": _door_item(door)}},
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException" and cancellation_codes(exc)[:1] == [
                "ConditionalCheckFailed"
            ]:
                raise NotFound("site not found") from exc
            raise

    def get_door(self, site_id: str, door_id: str) -> Door | None:
        values = self._get(self._directory, _key(f"SITE#{site_id}", f"DOOR#{door_id}"))
        return None if values is None else _door(values)

    def list_doors(self, site_id: str) -> list[Door]:
        """Every door of the site, ordered by door id."""
        return [
            _door(values)
            for values in self._query(
                self._directory,
                "pk = :pk AND begins_with(sk, :door)",
                {":pk": {"S": f"SITE#{site_id}"}, ":door": {"S": "DOOR#"}},
            )
        ]

    def _query(
        self, table: str, condition: str, values: dict[str, Any], projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        while True:
            with unavailable_on_transient():
                page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield decode(item)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def put_terminal(self, terminal: Terminal) -> None:
        """Store (or replace) a terminal and its key lookup item, atomically."""
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self._directory,
                        "Item": _terminal_item(terminal, f"TERMINAL#{terminal.terminal_id}", "TERMINAL"),
                    }
                },
                {
                    "Put": {
                        "TableName": self._directory,
                        "Item": _terminal_item(terminal, f"KEY#{terminal.key_id}", "KEY"),
                    }
                },
            ]
        )

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        values = self._get(self._directory, _key(f"TERMINAL#{terminal_id}", "TERMINAL"))
        return None if values is None else _terminal(values)

    def get_terminal_by_key(self, key_id: str) -> Terminal | None:
        """One strongly consistent read (a revocation is seen by the very next request)."""
        values = self._get(self._directory, _key(f"KEY#{key_id}", "KEY"))
        return None if values is None else _terminal(values)

    def revoke_terminal(self, terminal_id: str, at: datetime) -> Terminal | None:
        """Revoke the terminal and its key item together; an earlier revocation time is kept."""
        terminal = self.get_terminal(terminal_id)
        if terminal is None or terminal.revoked_at is not None:
            return terminal
        update = {
            "UpdateExpression": "SET revoked_at = :at",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(revoked_at)",
            "ExpressionAttributeValues": {":at": {"S": _time(at)}},
        }
        try:
            self._transact(
                [
                    {"Update": {"TableName": self._directory, "Key": key, **update}}
                    for key in (_key(f"TERMINAL#{terminal_id}", "TERMINAL"), _key(f"KEY#{terminal.key_id}", "KEY"))
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            if not set(cancellation_codes(exc)) <= {"ConditionalCheckFailed", "None"}:
                raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
            return self.get_terminal(terminal_id)
        return self.get_terminal(terminal_id)

    def put_invite(self, invite: Invite) -> None:
        """Store a new invite and its token-hash lookup item (Conflict if either exists)."""
        expires = self._expiry(invite.valid_until)
        item = encode(
            {
                "pk": f"INVITE#{invite.invite_id}",
                "sk": "INVITE",
                "kind": "invite",
                "invite_id": invite.invite_id,
                "site_id": invite.site_id,
                "door_ids": list(invite.door_ids),
                "valid_from": _time(invite.valid_from),
                "valid_until": _time(invite.valid_until),
                "token_hash": invite.token_hash,
                "created_at": _time(invite.created_at),
                "created_by": invite.created_by,
                "display_name": invite.display_name,
                "consent_version": None if invite.consent is None else invite.consent.version,
                "consent_at": None if invite.consent is None else _time(invite.consent.accepted_at),
                "enrolled_at": None if invite.enrolled_at is None else _time(invite.enrolled_at),
                "claim_code_ct": invite.claim_code_ct,
                "erased_at": None if invite.erased_at is None else _time(invite.erased_at),
                "revoked_at": None if invite.revoked_at is None else _time(invite.revoked_at),
                "rev": 0,
                TTL_ATTRIBUTE: expires,
            }
        )
        token = encode(
            {
                "pk": f"TOKEN#{invite.token_hash}",
                "sk": "TOKEN",
                "kind": "token",
                "invite_id": invite.invite_id,
                TTL_ATTRIBUTE: expires,
            }
        )
        new = "attribute_not_exists(pk)"
        try:
            self._transact(
                [
                    {"Put": {"TableName": self._directory, "Item": item, "ConditionExpression": new}},
                    {"Put": {"TableName": self._directory, "Item": token, "ConditionExpression": new}},
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in cancellation_codes(
                exc
            ):
                raise Conflict("invite exists") from exc
            raise

    def get_invite(self, invite_id: str) -> Invite | None:
        values = self._get(self._directory, _invite_key(invite_id))
        return None if values is None else _invite(values)

    def get_invite_by_token(self, token_hash: str) -> Invite | None:
        values = self._get(self._directory, _key(f"TOKEN#{token_hash}", "TOKEN"), projection="invite_id")
        return None if values is None else self.get_invite(str(values["invite_id"]))

    def record_consent(self, invite_id: str, consent: Consent) -> Invite:
        """Store the consent on an invite that exists and is not revoked (NotFound / Gone otherwise)."""
        try:
            with unavailable_on_transient():
                response = self._client.update_item(
                    TableName=self._directory,
                    Key=_invite_key(invite_id),
                    UpdateExpression=(
                        "SET consent_version = :v, consent_at = :at, rev = if_not_exists(rev, :zero) + :one"
                    ),
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeValues=encode(
                        {":v": consent.version, ":at": _time(consent.accepted_at), ":zero": 0, ":one": 1}
                    ),
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if self.get_invite(invite_id) is None:
                raise NotFound("invite not found") from exc
            raise Gone(code="invite_revoked") from exc
        return _invite(decode(response["Attributes"]))

    def enroll(
        self, invite_id: str, template: StoredTemplate, claim_code_ct: bytes, consent_version: str, at: datetime
    ) -> None:
        """One transaction: put the template, mark the invite enrolled, bump the site's template version.

        Conditional on the invite carrying consent ``consent_version`` and not being revoked.

        Raises:
            Conflict: ``consent_required`` when the condition fails.
            NotFound: the site no longer exists.
            ServiceUnavailable: the transaction kept conflicting or was throttled.
        """
        template_item = template_item_of(template, self._expiry(template.valid_until))
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._templates, "Item": template_item}},
            {
                "Update": {
                    "TableName": self._directory,
                    "Key": _invite_key(invite_id),
                    "UpdateExpression": (
                        "SET enrolled_at = :at, claim_code_ct = :ct, rev = if_not_exists(rev, :zero) + :one "
                        "REMOVE erased_at"
                    ),
                    "ConditionExpression": (
                        "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND consent_version = :cv"
                    ),
                    "ExpressionAttributeValues": encode(
                        {":at": _time(at), ":ct": claim_code_ct, ":cv": consent_version, ":zero": 0, ":one": 1}
                    ),
                }
            },
            self._bump(template.site_id),
        ]
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._transact(items)
                return
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(exc)
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    raise Conflict("consent is required before enrollment", code="consent_required") from exc
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    raise NotFound("site not found") from exc
                if not RETRYABLE_CANCELLATIONS.intersection(codes) or attempt == TRANSACTION_ATTEMPTS - 1:
                    raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
                _backoff(attempt)

    def _bump(self, site_id: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._directory,
                "Key": _site_key(site_id),
                "UpdateExpression": "ADD template_version :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }

    def erase_visitor(self, invite_id: str, at: datetime, revoke: bool) -> tuple[str, ...]:
        """One transaction: delete the template, clear consent/claim code/enrollment, bump the site version.

        Optimistic on the invite's ``rev``: if the invite changed between the read and the write (an
        enrollment committed), the erasure re-reads and runs again, so the receipt is exact.

        Raises:
            NotFound: unknown invite.
            ServiceUnavailable: the transaction kept conflicting or was throttled.
        """
        for attempt in range(TRANSACTION_ATTEMPTS):
            values = self._get(self._directory, _invite_key(invite_id))
            if values is None:
                raise NotFound("invite not found")
            invite = _invite(values)
            has_template = self._get(self._templates, _key(invite.site_id, invite_id), projection="pk") is not None
            kinds: list[str] = []
            if has_template:
                kinds.append("template")
            if invite.claim_code_ct is not None:
                kinds.append("claim_code")
            if invite.consent is not None:
                kinds.append("consent")
            sets = ["erased_at = :at", "rev = :next"]
            removes = ["consent_version", "consent_at", "enrolled_at", "claim_code_ct"]
            if revoke:
                kinds.append("invite_token")
                if invite.display_name:
                    kinds.append("display_name")
                sets.append("revoked_at = :at")
                removes.append("display_name")
            rev = int(values.get("rev", 0))
            condition = "rev = :rev" if "rev" in values else "attribute_not_exists(rev)"
            attribute_values = encode({":at": _time(at), ":next": rev + 1})
            if "rev" in values:
                attribute_values.update(encode({":rev": rev}))
            items: list[dict[str, Any]] = [
                {"Delete": {"TableName": self._templates, "Key": _key(invite.site_id, invite_id)}},
                {
                    "Update": {
                        "TableName": self._directory,
                        "Key": _invite_key(invite_id),
                        "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                        "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                        "ExpressionAttributeValues": attribute_values,
                    }
                },
                self._bump(invite.site_id),
            ]
            try:
                self._transact(items)
                return tuple(kinds)
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(exc)
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    raise NotFound("site not found") from exc
                changed = len(codes) > 1 and codes[1] == "ConditionalCheckFailed"
                if not (changed or RETRYABLE_CANCELLATIONS.intersection(codes)):
                    raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
                _backoff(attempt)
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS)

    def get_template_model_id(self, site_id: str, visitor_id: str) -> str | None:
        """One strongly consistent GetItem projected on ``model_id``."""
        values = self._get(self._templates, _key(site_id, visitor_id), projection="model_id")
        return None if values is None else str(values["model_id"])

    def list_templates(self, site_id: str) -> Iterator[StoredTemplate]:
        """Every template of the site: a strongly consistent Query, following LastEvaluatedKey (1 MB pages)."""
        for values in self._query(self._templates, "pk = :pk", {":pk": {"S": site_id}}):
            yield _template(values)

    def list_candidates(self, site_id: str) -> Iterator[CandidateRow]:
        """Like :meth:`list_templates`, projected to the eight attributes the matcher needs (about 30% less
        to transfer and parse when a warm instance builds a site's candidate matrix)."""
        rows = self._query(self._templates, "pk = :pk", {":pk": {"S": site_id}}, projection=CANDIDATE_PROJECTION)
        for values in rows:
            yield CandidateRow(
                visitor_id=str(values["sk"]),
                ciphertext=bytes(values["ciphertext"]),
                model_id=str(values["model_id"]),
                door_ids=_strings(values, "door_ids"),
                valid_from=parse_rfc3339(str(values["valid_from"])),
                valid_until=parse_rfc3339(str(values["valid_until"])),
                claim_hash=str(values["claim_hash"]),
                n_images=int(values.get("n_images", 1)),
            )


# --- audit ----------------------------------------------------------------------------------------

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
            "sk": f"{_time(record.at)}#{record.event_id}",
            "event_id": record.event_id,
            "kind": record.kind.value,
            "at": _time(record.at),
            "actor": record.actor,
            "details": dict(record.details) if record.details else None,
            TTL_ATTRIBUTE: _epoch(record.expires_at),
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
        low, high = _time(start), _time(end)
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
        similarity=_opt_float(values, "similarity"),
        threshold=_opt_float(values, "threshold"),
        model_id=values.get("model_id"),
        latency_ms=_opt_float(values, "latency_ms"),
        details={str(k): str(v) for k, v in details.items()},
    )


# --- ephemeral ------------------------------------------------------------------------------------


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
                    Item=encode({"pk": f"NONCE#{scope}#{nonce}", TTL_ATTRIBUTE: _epoch(expires_at)}),
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
                Item=encode({"pk": f"BLOCK#{key}", "until": _time(until), TTL_ATTRIBUTE: _epoch(until)}),
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


def idempotency_store(client: DynamoDBClient, settings: Settings) -> DynamoDBPersistenceLayer:
    """Powertools idempotency records in the ephemeral table (key ``pk``, expiry = the TTL attribute)."""
    return DynamoDBPersistenceLayer(
        table_name=settings.ephemeral_table,
        key_attr="pk",
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=client,
    )

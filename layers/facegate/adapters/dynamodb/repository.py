"""The DynamoDB adapter of :class:`~facegate.ports.Repository` (directory and templates tables)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from facegate.domain.models import (
    CandidateRow,
    Consent,
    Door,
    Invite,
    Site,
    SiteChanges,
    StoredTemplate,
    Terminal,
    parse_rfc3339,
)
from facegate.errors import Conflict, Gone, InvalidRequest, NotFound, ServiceUnavailable
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

from facegate.adapters.dynamodb._client import (
    RETRY_AFTER_SECONDS,
    RETRYABLE_CANCELLATIONS,
    TRANSACTION_ATTEMPTS,
    TTL_ATTRIBUTE,
    backoff,
    cancellation_codes,
    error_code,
    pages,
    unavailable_on_transient,
)
from facegate.adapters.dynamodb.codecs import (
    CANDIDATE_PROJECTION,
    LIST_INDEX,
    SITES_LIST,
    decode,
    door_item,
    door_of,
    encode,
    epoch_seconds,
    invite_item,
    invite_key,
    invite_of,
    invites_list,
    key_of,
    list_sort_key,
    record_of,
    rfc3339_text,
    site_item,
    site_key,
    site_of,
    template_item_of,
    template_of,
    terminal_item,
    terminal_of,
    terminals_list,
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
        return epoch_seconds(valid_until + self._grace)

    def put_site(self, site: Site) -> None:
        """Store a new site (Conflict if its id exists)."""
        try:
            with unavailable_on_transient():
                self._client.put_item(
                    TableName=self._directory, Item=site_item(site), ConditionExpression="attribute_not_exists(pk)"
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("site exists") from exc
            raise

    def get_site(self, site_id: str) -> Site | None:
        values = self._get(self._directory, site_key(site_id))
        return None if values is None else site_of(values)

    def update_site(self, site_id: str, changes: SiteChanges) -> Site | None:
        """One conditional UpdateItem of the name, level and/or liveness trust (the template version is left
        alone)."""
        changed = changes.changed()
        names = {f"#{field}": field for field in changed}
        values = {
            f":{field}": {"BOOL": value} if isinstance(value, bool) else {"S": str(value)}
            for field, value in changed.items()
        }
        if not names:
            return self.get_site(site_id)
        try:
            with unavailable_on_transient():
                item = self._client.update_item(
                    TableName=self._directory,
                    Key=site_key(site_id),
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
        return site_of(decode(item["Attributes"]))

    def get_template_version(self, site_id: str) -> int | None:
        """One strongly consistent GetItem projected on ``template_version``; None for an unknown site."""
        with unavailable_on_transient():
            item = self._client.get_item(
                TableName=self._directory,
                Key=site_key(site_id),
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
                            "Key": site_key(door.site_id),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._directory, "Item": door_item(door)}},
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException" and cancellation_codes(exc)[:1] == [
                "ConditionalCheckFailed"
            ]:
                raise NotFound("site not found") from exc
            raise

    def get_door(self, site_id: str, door_id: str) -> Door | None:
        values = self._get(self._directory, key_of(f"SITE#{site_id}", f"DOOR#{door_id}"))
        return None if values is None else door_of(values)

    def list_doors(self, site_id: str) -> list[Door]:
        """Every door of the site, ordered by door id."""
        return [
            door_of(values)
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
        return self._pages(kwargs)

    def _pages(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The decoded items of one Query, following ``LastEvaluatedKey`` page by page (lazily: a caller that
        stops early reads no further page)."""
        for page in pages(self._client.query, kwargs):
            yield from (decode(item) for item in page.get("Items", []))

    def put_terminal(self, terminal: Terminal) -> None:
        """Store (or replace) a terminal and its key lookup item, atomically."""
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self._directory,
                        "Item": terminal_item(terminal, f"TERMINAL#{terminal.terminal_id}", "TERMINAL"),
                    }
                },
                {
                    "Put": {
                        "TableName": self._directory,
                        "Item": terminal_item(terminal, f"KEY#{terminal.key_id}", "KEY"),
                    }
                },
            ]
        )

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        values = self._get(self._directory, key_of(f"TERMINAL#{terminal_id}", "TERMINAL"))
        return None if values is None else terminal_of(values)

    def get_terminal_by_key(self, key_id: str) -> Terminal | None:
        """One strongly consistent read (a revocation is seen by the very next request)."""
        values = self._get(self._directory, key_of(f"KEY#{key_id}", "KEY"))
        return None if values is None else terminal_of(values)

    def revoke_terminal(self, terminal_id: str, at: datetime) -> Terminal | None:
        """Revoke the terminal and its key item together; an earlier revocation time is kept."""
        terminal = self.get_terminal(terminal_id)
        if terminal is None or terminal.revoked_at is not None:
            return terminal
        update = {
            "UpdateExpression": "SET revoked_at = :at",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(revoked_at)",
            "ExpressionAttributeValues": {":at": {"S": rfc3339_text(at)}},
        }
        try:
            self._transact(
                [
                    {"Update": {"TableName": self._directory, "Key": key, **update}}
                    for key in (key_of(f"TERMINAL#{terminal_id}", "TERMINAL"), key_of(f"KEY#{terminal.key_id}", "KEY"))
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
        item = invite_item(invite, expires)
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
        values = self._get(self._directory, invite_key(invite_id))
        return None if values is None else invite_of(values)

    def get_invite_by_token(self, token_hash: str) -> Invite | None:
        values = self._get(self._directory, key_of(f"TOKEN#{token_hash}", "TOKEN"), projection="invite_id")
        return None if values is None else self.get_invite(str(values["invite_id"]))

    def record_consent(self, invite_id: str, consent: Consent) -> Invite:
        """Store the consent on an invite that exists and is not revoked (NotFound / Gone otherwise)."""
        try:
            with unavailable_on_transient():
                response = self._client.update_item(
                    TableName=self._directory,
                    Key=invite_key(invite_id),
                    UpdateExpression=(
                        "SET consent_version = :v, consent_at = :at, rev = if_not_exists(rev, :zero) + :one"
                    ),
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeValues=encode(
                        {":v": consent.version, ":at": rfc3339_text(consent.accepted_at), ":zero": 0, ":one": 1}
                    ),
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if self.get_invite(invite_id) is None:
                raise NotFound("invite not found") from exc
            raise Gone(code="invite_revoked") from exc
        return invite_of(decode(response["Attributes"]))

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
                    "Key": invite_key(invite_id),
                    "UpdateExpression": (
                        "SET enrolled_at = :at, claim_code_ct = :ct, rev = if_not_exists(rev, :zero) + :one "
                        "REMOVE erased_at"
                    ),
                    "ConditionExpression": (
                        "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND consent_version = :cv"
                    ),
                    "ExpressionAttributeValues": encode(
                        {":at": rfc3339_text(at), ":ct": claim_code_ct, ":cv": consent_version, ":zero": 0, ":one": 1}
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
                backoff(attempt)

    def _bump(self, site_id: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._directory,
                "Key": site_key(site_id),
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
            values = self._get(self._directory, invite_key(invite_id))
            if values is None:
                raise NotFound("invite not found")
            invite = invite_of(values)
            has_template = self._get(self._templates, key_of(invite.site_id, invite_id), projection="pk") is not None
            sets = ["erased_at = :at", "rev = :next"]
            removes = [
                "consent_version",
                "consent_at",
                "enrolled_at",
                "claim_code_ct",
                "email",
                "link_ct",
                "arrived_at",
            ]
            if revoke:
                sets.append("revoked_at = :at")
                removes.append("display_name")
            rev = int(values.get("rev", 0))
            condition = "rev = :rev" if "rev" in values else "attribute_not_exists(rev)"
            attribute_values = encode({":at": rfc3339_text(at), ":next": rev + 1})
            if "rev" in values:
                attribute_values.update(encode({":rev": rev}))
            items: list[dict[str, Any]] = [
                {"Delete": {"TableName": self._templates, "Key": key_of(invite.site_id, invite_id)}},
                {
                    "Update": {
                        "TableName": self._directory,
                        "Key": invite_key(invite_id),
                        "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                        "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                        "ExpressionAttributeValues": attribute_values,
                    }
                },
                self._bump(invite.site_id),
            ]
            try:
                self._transact(items)
                return invite.erasure_items(has_template, revoke)
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(exc)
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    raise NotFound("site not found") from exc
                changed = len(codes) > 1 and codes[1] == "ConditionalCheckFailed"
                if not (changed or RETRYABLE_CANCELLATIONS.intersection(codes)):
                    raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
                backoff(attempt)
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS)

    def get_template_model_id(self, site_id: str, visitor_id: str) -> str | None:
        """One strongly consistent GetItem projected on ``model_id``."""
        values = self._get(self._templates, key_of(site_id, visitor_id), projection="model_id")
        return None if values is None else str(values["model_id"])

    def list_templates(self, site_id: str) -> Iterator[StoredTemplate]:
        """Every template of the site: a strongly consistent Query, following LastEvaluatedKey (1 MB pages)."""
        for values in self._query(self._templates, "pk = :pk", {":pk": {"S": site_id}}):
            yield template_of(values)

    def list_candidates(self, site_id: str) -> Iterator[CandidateRow]:
        """Like :meth:`list_templates`, projected to the eight attributes the matcher needs (about 30% less
        to transfer and parse when a warm instance builds a site's candidate matrix)."""
        rows = self._query(self._templates, "pk = :pk", {":pk": {"S": site_id}}, projection=CANDIDATE_PROJECTION)
        for values in rows:
            yield record_of(CandidateRow, values, visitor_id=str(values["sk"]))

    # --- console lists, retirement, key rotation, arrival -----------------------------------------

    def _list(
        self,
        list_pk: str,
        forward: bool = True,
        page_size: int | None = None,
        start_key: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of one list of the sparse ``lists`` index, all pages (eventually consistent, like every GSI),
        from after ``start_key`` (an ``ExclusiveStartKey``) when given; ``page_size``: items per Query."""
        kwargs: dict[str, Any] = {
            "TableName": self._directory,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "list_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": list_pk}},
            "ScanIndexForward": forward,
        }
        if page_size is not None:
            kwargs["Limit"] = page_size
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = start_key
        return self._pages(kwargs)

    def list_sites(self) -> list[Site]:
        """One Query of the ``lists`` index (``list_pk = SITES``), oldest first."""
        return [site_of(values) for values in self._list(SITES_LIST)]

    def _retire(self, key: dict[str, Any], at: datetime) -> dict[str, Any] | None:
        try:
            with unavailable_on_transient():
                item = self._client.update_item(
                    TableName=self._directory,
                    Key=key,
                    UpdateExpression="SET retired_at = if_not_exists(retired_at, :at)",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":at": {"S": rfc3339_text(at)}},
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return decode(item["Attributes"])

    def retire_site(self, site_id: str, at: datetime) -> Site | None:
        """One conditional UpdateItem; an earlier ``retired_at`` is kept."""
        values = self._retire(site_key(site_id), at)
        return None if values is None else site_of(values)

    def retire_door(self, site_id: str, door_id: str, at: datetime) -> Door | None:
        """One conditional UpdateItem; an earlier ``retired_at`` is kept."""
        values = self._retire(key_of(f"SITE#{site_id}", f"DOOR#{door_id}"), at)
        return None if values is None else door_of(values)

    def list_terminals(self, site_id: str) -> list[Terminal]:
        """One Query of the ``lists`` index (the terminal items, not their key copies), oldest first."""
        return [terminal_of(values) for values in self._list(terminals_list(site_id))]

    def rotate_terminal(
        self, terminal_id: str, old_key_id: str, new_key_id: str, secret_blob: bytes, at: datetime, paired: bool
    ) -> Terminal | None:
        """One transaction: replace the terminal item (conditional on the old key id and no revocation),
        delete the old key's lookup item, put the new one."""
        terminal = self.get_terminal(terminal_id)
        if terminal is None or terminal.revoked_at is not None or terminal.key_id != old_key_id:
            return None
        rotated = replace(
            terminal, key_id=new_key_id, secret_blob=secret_blob, paired_at=at if paired else terminal.paired_at
        )
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._directory,
                    "Item": terminal_item(rotated, f"TERMINAL#{terminal_id}", "TERMINAL"),
                    "ConditionExpression": "key_id = :old AND attribute_not_exists(revoked_at)",
                    "ExpressionAttributeValues": {":old": {"S": old_key_id}},
                }
            },
            {"Delete": {"TableName": self._directory, "Key": key_of(f"KEY#{old_key_id}", "KEY")}},
            {
                "Put": {
                    "TableName": self._directory,
                    "Item": terminal_item(rotated, f"KEY#{new_key_id}", "KEY"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        try:
            self._transact(items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return None
            raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
        return rotated

    def list_invites(
        self, site_id: str, limit: int, cursor: str | None, keep: Callable[[Invite], bool] | None = None
    ) -> tuple[list[Invite], str | None]:
        """Newest first from the ``lists`` index, filtered by ``keep`` while reading, until one more than
        ``limit`` is found; the cursor is the base64url of the last returned item's ``list_sk``."""
        list_pk = invites_list(site_id)
        start_key: dict[str, Any] | None = None
        if cursor:
            sort_key = _decode_list_cursor(cursor)
            invite_id = sort_key.rsplit("#", 1)[1]
            start_key = {**invite_key(invite_id), "list_pk": {"S": list_pk}, "list_sk": {"S": sort_key}}
        page: list[tuple[Invite, str]] = []
        for values in self._list(list_pk, forward=False, page_size=min(100, limit + 1), start_key=start_key):
            invite = invite_of(values)
            if keep is not None and not keep(invite):
                continue
            if len(page) == limit:
                return [found for found, _ in page], _encode_list_cursor(page[-1][1])
            page.append((invite, str(values["list_sk"])))
        return [found for found, _ in page], None

    def mark_arrived(self, invite_id: str, at: datetime) -> bool:
        """One conditional UpdateItem (``attribute_not_exists(arrived_at)``): only the first arrival sets it."""
        try:
            with unavailable_on_transient():
                self._client.update_item(
                    TableName=self._directory,
                    Key=invite_key(invite_id),
                    UpdateExpression="SET arrived_at = :at",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(arrived_at)",
                    ExpressionAttributeValues={":at": {"S": rfc3339_text(at)}},
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


_LIST_SORT_KEY = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[A-Za-z0-9_-]{1,64}")


def _encode_list_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sort_key}).encode()).rstrip(b"=").decode()


def _decode_list_cursor(cursor: str) -> str:
    invalid = InvalidRequest("next_token is not valid for this list", code="invalid_request")
    if len(cursor) > 512:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    sort_key = data.get("sk") if isinstance(data, dict) else None
    if not isinstance(sort_key, str) or not _LIST_SORT_KEY.fullmatch(sort_key):
        raise invalid
    return sort_key


def backfill_list_keys(client: DynamoDBClient, settings: Settings) -> int:
    """Give site, terminal and invite items written before the ``lists`` index existed their ``list_pk`` and
    ``list_sk`` (a one-off migration of a deployed directory table; safe to run again). Returns how many
    items were updated. One paginated Scan of the table, one conditional UpdateItem per item."""
    table = settings.directory_table
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "attribute_not_exists(list_pk) AND sk IN (:site, :terminal, :invite)",
        "ExpressionAttributeValues": {
            ":site": {"S": "SITE"},
            ":terminal": {"S": "TERMINAL"},
            ":invite": {"S": "INVITE"},
        },
    }
    updated = 0
    for page in pages(client.scan, kwargs):
        for item in page.get("Items", []):
            values = decode(item)
            kind = str(values["sk"])
            object_id = str(values[{"SITE": "site_id", "TERMINAL": "terminal_id", "INVITE": "invite_id"}[kind]])
            parent = str(values.get("site_id", ""))
            list_pk = {"SITE": SITES_LIST, "TERMINAL": terminals_list(parent), "INVITE": invites_list(parent)}[kind]
            list_sk = list_sort_key(parse_rfc3339(str(values["created_at"])), object_id)
            try:
                with unavailable_on_transient():
                    client.update_item(
                        TableName=table,
                        Key={"pk": item["pk"], "sk": item["sk"]},
                        UpdateExpression="SET list_pk = :pk, list_sk = :sk",
                        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(list_pk)",
                        ExpressionAttributeValues={":pk": {"S": list_pk}, ":sk": {"S": list_sk}},
                    )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                continue
            updated += 1
    return updated

"""Records to DynamoDB items and back: one codec per record, used by every adapter in this package."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from facegate.domain.models import (
    Consent,
    Door,
    Invite,
    SecurityLevel,
    Site,
    StoredTemplate,
    Terminal,
    parse_rfc3339,
)

if TYPE_CHECKING:
    pass

from facegate.adapters.dynamodb._client import DESERIALIZER, SERIALIZER, TTL_ATTRIBUTE

# --- encoding -----------------------------------------------------------------------------------


def rfc3339_text(moment: datetime) -> str:
    """Fixed-width UTC RFC 3339 with microseconds: exact round trip, sorts in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_seconds(moment: datetime) -> int:
    """TTL value: epoch seconds, rounded up (an item never expires before ``moment``)."""
    return math.ceil(moment.timestamp())


def number(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def encode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values; None values are left out, floats become Decimal."""
    item: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = number(value)
        item[name] = SERIALIZER.serialize(value)
    return item


def decode(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values to Python values (top-level Binary to bytes, numbers as Decimal)."""
    values: dict[str, Any] = {}
    for name, raw in item.items():
        values[name] = bytes(raw["B"]) if "B" in raw else DESERIALIZER.deserialize(raw)
    return values


def opt_time(values: Mapping[str, Any], name: str) -> datetime | None:
    raw = values.get(name)
    return None if raw is None else parse_rfc3339(str(raw))


def opt_float(values: Mapping[str, Any], name: str) -> float | None:
    raw = values.get(name)
    return None if raw is None else float(raw)


def strings(values: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return tuple(str(item) for item in values.get(name) or ())


def key_of(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def site_key(site_id: str) -> dict[str, Any]:
    return key_of(f"SITE#{site_id}", "SITE")


def invite_key(invite_id: str) -> dict[str, Any]:
    return key_of(f"INVITE#{invite_id}", "INVITE")


def site_item(site: Site) -> dict[str, Any]:
    return encode(
        {
            "pk": f"SITE#{site.site_id}",
            "sk": "SITE",
            "kind": "site",
            "site_id": site.site_id,
            "name": site.name,
            "timezone": site.timezone,
            "created_at": rfc3339_text(site.created_at),
            "data_key_blob": site.data_key_blob,
            "security_level": site.security_level.value,
            "template_version": site.template_version,
        }
    )


def site_of(values: Mapping[str, Any]) -> Site:
    return Site(
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        timezone=str(values["timezone"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        data_key_blob=bytes(values["data_key_blob"]),
        security_level=SecurityLevel(str(values.get("security_level", SecurityLevel.STANDARD.value))),
        template_version=int(values.get("template_version", 0)),
    )


def door_item(door: Door) -> dict[str, Any]:
    return encode(
        {
            "pk": f"SITE#{door.site_id}",
            "sk": f"DOOR#{door.door_id}",
            "kind": "door",
            "door_id": door.door_id,
            "site_id": door.site_id,
            "name": door.name,
            "created_at": rfc3339_text(door.created_at),
            "unlock_key_blob": door.unlock_key_blob,
        }
    )


def door_of(values: Mapping[str, Any]) -> Door:
    return Door(
        door_id=str(values["door_id"]),
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        unlock_key_blob=bytes(values["unlock_key_blob"]),
    )


def terminal_item(terminal: Terminal, pk: str, sk: str) -> dict[str, Any]:
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
            "created_at": rfc3339_text(terminal.created_at),
            "revoked_at": None if terminal.revoked_at is None else rfc3339_text(terminal.revoked_at),
        }
    )


def terminal_of(values: Mapping[str, Any]) -> Terminal:
    return Terminal(
        terminal_id=str(values["terminal_id"]),
        site_id=str(values["site_id"]),
        name=str(values["name"]),
        door_ids=strings(values, "door_ids"),
        key_id=str(values["key_id"]),
        secret_blob=bytes(values["secret_blob"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        revoked_at=opt_time(values, "revoked_at"),
    )


def invite_of(values: Mapping[str, Any]) -> Invite:
    consent = None
    if values.get("consent_version") is not None:
        consent = Consent(version=str(values["consent_version"]), accepted_at=parse_rfc3339(str(values["consent_at"])))
    claim = values.get("claim_code_ct")
    return Invite(
        invite_id=str(values["invite_id"]),
        site_id=str(values["site_id"]),
        door_ids=strings(values, "door_ids"),
        valid_from=parse_rfc3339(str(values["valid_from"])),
        valid_until=parse_rfc3339(str(values["valid_until"])),
        token_hash=str(values["token_hash"]),
        created_at=parse_rfc3339(str(values["created_at"])),
        created_by=str(values["created_by"]),
        display_name=None if values.get("display_name") is None else str(values["display_name"]),
        consent=consent,
        enrolled_at=opt_time(values, "enrolled_at"),
        claim_code_ct=None if claim is None else bytes(claim),
        erased_at=opt_time(values, "erased_at"),
        revoked_at=opt_time(values, "revoked_at"),
    )


def template_of(values: Mapping[str, Any]) -> StoredTemplate:
    return StoredTemplate(
        site_id=str(values["pk"]),
        visitor_id=str(values["sk"]),
        ciphertext=bytes(values["ciphertext"]),
        model_id=str(values["model_id"]),
        n_images=int(values["n_images"]),
        door_ids=strings(values, "door_ids"),
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
            "valid_from": rfc3339_text(template.valid_from),
            "valid_until": rfc3339_text(template.valid_until),
            "claim_hash": template.claim_hash,
            "enrolled_at": rfc3339_text(template.enrolled_at),
            TTL_ATTRIBUTE: expires_at,
        }
    )

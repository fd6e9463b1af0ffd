"""Records to DynamoDB items and back, used by every adapter in this package.

One generic codec over a record's dataclass fields (:func:`fields_of`, :func:`record_of`): a record's field
list is written once, in ``facegate.domain.models``. The stored format: datetimes as fixed-width UTC RFC 3339
text, floats as numbers, tuples as lists, enums as their values, bytes as binary; None, False and empty maps
left out. Per record only what is not a field: keys, list keys, ``kind``, TTL, the invite's flattened consent.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from facegate.adapters.dynamodb._client import DESERIALIZER, SERIALIZER, TTL_ATTRIBUTE
from facegate.domain.models import (
    Consent,
    Door,
    Invite,
    Site,
    StoredTemplate,
    Terminal,
    parse_rfc3339,
)

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


def stored(value: Any) -> Any:
    """One field value as an item value: datetime -> fixed-width RFC 3339 text, enum -> its value, tuple ->
    list; None, False and an empty mapping -> None (left out; they read back as the field's default)."""
    if value is None or value is False or (isinstance(value, Mapping) and not value):
        return None
    if isinstance(value, datetime):
        return rfc3339_text(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [stored(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): stored(item) for key, item in value.items()}
    return value


def fields_of(record: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """A dataclass record's fields (but ``skip``) as item values (see :func:`stored`), in declaration order."""
    left_out = set(skip)
    return {f.name: stored(getattr(record, f.name)) for f in fields(record) if f.name not in left_out}


@functools.cache
def _field_types(cls: type[Any]) -> tuple[tuple[Field[Any], Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f, hints[f.name]) for f in fields(cls))


def _read(hint: Any, raw: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = (arg for arg in args if arg is not type(None))
        return _read(inner, raw)
    if origin is tuple:
        return tuple(_read(args[0], item) for item in raw or ())
    if origin is dict:
        return {str(key): _read(args[1], item) for key, item in (raw or {}).items()}
    if hint is datetime:
        return parse_rfc3339(str(raw))
    if hint is bytes:
        return bytes(raw)
    if hint in (int, float, bool, str) or (isinstance(hint, type) and issubclass(hint, Enum)):
        return hint(raw if hint in (int, float, bool) else str(raw))
    raise TypeError(f"no item codec for {hint!r}")


def record_of[R](cls: type[R], values: Mapping[str, Any], **given: Any) -> R:
    """The ``cls`` dataclass record of an item's ``values`` (from :func:`decode`), converted by each field's
    type; ``given`` supplies fields stored under other names (keys, TTL). A field the item lacks takes its
    default.

    Raises:
        KeyError: a field without a default is missing from the item.
    """
    kwargs = dict(given)
    for f, hint in _field_types(typing.cast(Any, cls)):
        if f.name in kwargs:
            continue
        raw = values.get(f.name)
        if raw is None:
            if f.default is MISSING and f.default_factory is MISSING:
                raise KeyError(f.name)
            continue
        kwargs[f.name] = _read(hint, raw)
    return cls(**kwargs)


def strings(values: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return tuple(str(item) for item in values.get(name) or ())


def key_of(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def site_key(site_id: str) -> dict[str, Any]:
    return key_of(f"SITE#{site_id}", "SITE")


def invite_key(invite_id: str) -> dict[str, Any]:
    return key_of(f"INVITE#{invite_id}", "INVITE")


LIST_INDEX = "lists"
"""The directory table's sparse GSI (``list_pk``/``list_sk``): sites, a site's terminals, a site's invites."""
SITES_LIST = "SITES"


def terminals_list(site_id: str) -> str:
    """``list_pk`` of a site's terminal items."""
    return f"SITE#{site_id}#TERMINALS"


def invites_list(site_id: str) -> str:
    """``list_pk`` of a site's invite items."""
    return f"SITE#{site_id}#INVITES"


def list_sort_key(created_at: datetime, object_id: str) -> str:
    """``list_sk``: creation time then id (sorts in creation order)."""
    return f"{rfc3339_text(created_at)}#{object_id}"


def site_item(site: Site) -> dict[str, Any]:
    listed = {"list_pk": SITES_LIST, "list_sk": list_sort_key(site.created_at, site.site_id)}
    return encode({"pk": f"SITE#{site.site_id}", "sk": "SITE", **listed, "kind": "site", **fields_of(site)})


def site_of(values: Mapping[str, Any]) -> Site:
    return record_of(Site, values)


def door_item(door: Door) -> dict[str, Any]:
    return encode({"pk": f"SITE#{door.site_id}", "sk": f"DOOR#{door.door_id}", "kind": "door", **fields_of(door)})


def door_of(values: Mapping[str, Any]) -> Door:
    return record_of(Door, values)


def terminal_item(terminal: Terminal, pk: str, sk: str) -> dict[str, Any]:
    """The terminal item (``sk`` ``TERMINAL``, listed per site) or its key-lookup copy (``sk`` ``KEY``)."""
    listed = sk == "TERMINAL"
    keys = {
        "pk": pk,
        "sk": sk,
        "list_pk": terminals_list(terminal.site_id) if listed else None,
        "list_sk": list_sort_key(terminal.created_at, terminal.terminal_id) if listed else None,
    }
    return encode({**keys, "kind": "terminal", **fields_of(terminal)})


def terminal_of(values: Mapping[str, Any]) -> Terminal:
    return record_of(Terminal, values)


def invite_item(invite: Invite, expires_at: int) -> dict[str, Any]:
    """The directory item of an invite (listed per site; the consent flattened to ``consent_version`` and
    ``consent_at``; ``rev`` 0; ``expires_at``: TTL, epoch seconds)."""
    consent = invite.consent
    return encode(
        {
            "pk": f"INVITE#{invite.invite_id}",
            "sk": "INVITE",
            "list_pk": invites_list(invite.site_id),
            "list_sk": list_sort_key(invite.created_at, invite.invite_id),
            "kind": "invite",
            **fields_of(invite, skip=("consent",)),
            "consent_version": None if consent is None else consent.version,
            "consent_at": None if consent is None else rfc3339_text(consent.accepted_at),
            "rev": 0,
            TTL_ATTRIBUTE: expires_at,
        }
    )


def invite_of(values: Mapping[str, Any]) -> Invite:
    consent = None
    if values.get("consent_version") is not None:
        consent = Consent(version=str(values["consent_version"]), accepted_at=parse_rfc3339(str(values["consent_at"])))
    return record_of(Invite, values, consent=consent)


def template_of(values: Mapping[str, Any]) -> StoredTemplate:
    return record_of(StoredTemplate, values, site_id=str(values["pk"]), visitor_id=str(values["sk"]))


# --- directory and templates ----------------------------------------------------------------------


CANDIDATE_PROJECTION = "sk, ciphertext, model_id, door_ids, valid_from, valid_until, claim_hash, n_images"


def template_item_of(template: StoredTemplate, expires_at: int) -> dict[str, Any]:
    """The templates-table item of a stored template (``expires_at``: TTL, epoch seconds)."""
    keys = {"pk": template.site_id, "sk": template.visitor_id}
    return encode({**keys, **fields_of(template, skip=("site_id", "visitor_id")), TTL_ATTRIBUTE: expires_at})

"""API schemas derived from domain records, so that a record's field list is written once (in the domain).

:func:`from_record` (a class decorator) builds a pydantic model from a dataclass record: each field keeps its name (or a
``rename``), its type in JSON terms (enums as their string values, tuples as lists) and its default;
``before``/``after`` add fields the record does not have (computed values, joined names). The model's
:meth:`RecordModel.of` turns a record into the response body.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from types import UnionType
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, Field, create_model

FieldSpec = tuple[Any, Any]
"""A pydantic field definition: (type, default or ``FieldInfo``)."""


class RecordModel(BaseModel):
    """A response body made from a domain record (see :func:`schema_of`)."""

    record_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(record attribute, body key) of every field taken from the record."""

    @classmethod
    def of(cls, record: Any, **extra: Any) -> Self:
        """The body of ``record`` (enums as values, tuples as lists); ``extra`` adds or replaces fields."""
        values = {key: _json_value(getattr(record, attribute)) for attribute, key in cls.record_fields}
        return cls(**{**values, **extra})


def body_from[B: BaseModel](model: type[B], *records: Any, **extra: Any) -> B:
    """A response body of ``model`` from the fields of the dataclass ``records`` (a later record's field wins)
    and ``extra`` (wins over both); fields ``model`` does not declare are left out, so a record's secrets never
    reach a body that does not name them."""
    values: dict[str, Any] = {}
    for record in records:
        values.update({item.name: getattr(record, item.name) for item in dataclasses.fields(record)})
    return model.model_validate({**values, **extra})


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return value


def _json_type(hint: Any) -> Any:
    """The body type of a record field's type: enums as the literal strings of their values, tuples as lists."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (UnionType, typing.Union):
        converted = [_json_type(arg) for arg in args]
        union = converted[0]
        for arg in converted[1:]:
            union = union | arg
        return union
    if origin is tuple:
        return list[_json_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[_json_type(args[0]), _json_type(args[1])]  # type: ignore[misc]
    if isinstance(hint, type) and issubclass(hint, Enum):
        return Literal[tuple(member.value for member in hint)]
    return hint


def from_record[M: RecordModel](record: type[Any], **options: Any) -> Callable[[type[M]], type[M]]:
    """Decorate a :class:`RecordModel` subclass: the same class (name, docstring, module) with the fields of
    :func:`schema_of` ``(record, **options)``."""

    def build(cls: type[M]) -> type[M]:
        return schema_of(record, base=cls, **options)

    return build


def schema_of[M: RecordModel](
    record: type[Any],
    *,
    base: type[M],
    skip: Iterable[str] = (),
    only: Iterable[str] | None = None,
    rename: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    types: Mapping[str, Any] | None = None,
    required: bool | Iterable[str] = False,
    defaults: Mapping[str, Any] | None = None,
    before: Mapping[str, FieldSpec] | None = None,
    after: Mapping[str, FieldSpec] | None = None,
) -> type[M]:
    """A subclass of ``base``, named like it, with the dataclass ``record``'s fields (``only`` these, not
    ``skip``) in declaration order.

    Args:
        rename: record field -> body key.
        descriptions: body key -> the OpenAPI description.
        types: body key -> its type in the body, where it is not the record's (e.g. an open ``str`` for an enum).
        required: every field is required, or these (body keys): the record's defaults are not the API's.
        defaults: body key -> its default in the API where the record has none (e.g. None).
        before, after: extra body fields (name -> (type, default or ``Field(...)``)) placed first or last.
    """
    left_out, renamed, described = set(skip), dict(rename or {}), dict(descriptions or {})
    kept = None if only is None else set(only)
    forced = set() if isinstance(required, bool) else set(required)
    hints = typing.get_type_hints(record)
    definitions: dict[str, Any] = dict(before or {})
    mapping: list[tuple[str, str]] = []
    for item in dataclasses.fields(record):
        if item.name in left_out or (kept is not None and item.name not in kept):
            continue
        key = renamed.get(item.name, item.name)
        info: dict[str, Any] = {"description": described[key]} if key in described else {}
        if required is True or key in forced:
            pass
        elif key in (defaults or {}):
            info["default"] = (defaults or {})[key]
        elif item.default_factory is not dataclasses.MISSING:
            info["default_factory"] = item.default_factory
        elif item.default is not dataclasses.MISSING:
            info["default"] = _json_value(item.default)
        body_type = (types or {}).get(key, _json_type(hints[item.name]))
        definitions[key] = (body_type, Field(**info))
        mapping.append((item.name, key))
    definitions.update(after or {})
    model = create_model(base.__name__, __base__=base, __module__=base.__module__, __doc__=base.__doc__, **definitions)
    model.record_fields = tuple(mapping)
    return model

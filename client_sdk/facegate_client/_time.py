"""RFC 3339 timestamps: parsing (any offset, ``Z``) and formatting (UTC, ``Z`` suffix)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware :class:`datetime` in UTC.

    Args:
        text: for example ``2026-11-28T09:00:00Z`` or ``2026-11-28T18:00:00.5+09:00``; an offset is required.

    Returns:
        The instant as an aware datetime with ``tzinfo=timezone.utc`` (fractions beyond microseconds truncated).

    Raises:
        ValueError: the text is not an RFC 3339 timestamp with an offset.
    """
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp with an offset: {text!r}")
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    tz = match["tz"]
    offset = "+00:00" if tz in ("Z", "z") else tz
    parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}{offset}")
    return parsed.astimezone(timezone.utc)


def to_rfc3339(value: datetime | str) -> str:
    """Format an instant as RFC 3339 UTC with a ``Z`` suffix (``2026-11-28T09:00:00Z``).

    Args:
        value: an aware datetime (any zone) or an RFC 3339 string with an offset. Microseconds are kept
            only when non-zero.

    Raises:
        ValueError: a naive datetime (its zone is ambiguous) or a string that is not RFC 3339.
        TypeError: any other type.
    """
    if isinstance(value, str):
        instant = parse_rfc3339(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("naive datetime: pass an aware datetime (for example datetime.now(timezone.utc))")
        instant = value.astimezone(timezone.utc)
    else:
        raise TypeError(f"expected datetime or RFC 3339 string, got {type(value).__name__}")
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if instant.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return instant.strftime(pattern)


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def hours_from_now(hours: float) -> datetime:
    """The instant ``hours`` hours (may be fractional) after now, aware UTC."""
    return utc_now() + timedelta(hours=hours)

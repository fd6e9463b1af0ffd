"""Checking keyword arguments gathered as ``**options`` (typed by a TypedDict) the way Python checks named ones."""

from __future__ import annotations

from collections.abc import Collection, Mapping


def check_keywords(options: Mapping[str, object], allowed: Collection[str]) -> None:
    """Raise TypeError for keys of ``options`` that are not ``allowed`` (a misspelt option is not ignored).

    Raises:
        TypeError: unknown keyword arguments.
    """
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")

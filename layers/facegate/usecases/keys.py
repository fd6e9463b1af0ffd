"""Warm-instance cache of decrypted keys (site data keys, terminal secrets, door unlock keys).

Entries are keyed by the encrypted blob, so a rotated or replaced key is a cache miss, and a
revoked terminal is rejected before its secret is ever looked up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from facegate.ports import KeyService

MAX_ENTRIES = 1024


class KeyCache:
    """LRU cache in front of :meth:`KeyService.decrypt` (plaintexts live only in memory)."""

    def __init__(self, keys: KeyService, max_entries: int = MAX_ENTRIES) -> None:
        self._keys = keys
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[bytes, tuple[tuple[str, str], ...]], bytes] = OrderedDict()

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        """Plaintext of ``blob`` under ``context`` (KMS is called once per distinct blob)."""
        key = (blob, tuple(sorted(context.items())))
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        plaintext = self._keys.decrypt(blob, context)
        with self._lock:
            self._entries[key] = plaintext
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return plaintext

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def site_context(site_id: str) -> dict[str, str]:
    """KMS encryption context of a site data key."""
    return {"facegate": "site-data-key", "site_id": site_id}


def terminal_context(key_id: str) -> dict[str, str]:
    """KMS encryption context of a terminal secret."""
    return {"facegate": "terminal-secret", "key_id": key_id}


def door_context(door_id: str) -> dict[str, str]:
    """KMS encryption context of a door unlock key."""
    return {"facegate": "door-unlock-key", "door_id": door_id}

"""Kiosk pairing: trade a one-time pairing code for the terminal's credentials (no other credential)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from facegate_client._http import ApiClient, ClientOptions, load
from facegate_client.models import PairedTerminal

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["code_from_pairing_url", "pair_kiosk"]


def code_from_pairing_url(text: str) -> str:
    """The code of a pairing URL (``<origin>/kiosk?pair=<code>``, what the console's QR code holds); any other
    text is returned as it is (a typed code)."""
    parts = urlsplit(text.strip())
    if parts.scheme in ("http", "https"):
        codes = parse_qs(parts.query).get("pair")
        if not codes:
            raise ValueError("the URL has no pair= code")
        return codes[0]
    return text.strip()


def pair_kiosk(
    api_url: str,
    pairing_code: str,
    **options: Unpack[ClientOptions],
) -> PairedTerminal:
    """``POST /pair``: the terminal's fresh key id and secret for a one-time code (or the pairing URL).

    The code is used up by the first request that reaches the server, so the request is retried only when
    the connection could not be established. Build a :class:`~facegate_client.TerminalClient` from the result
    (``api_url``, ``key_id``, ``secret``). ``options``: as for every client (:class:`ClientOptions`).

    Raises:
        NotFoundError: ``pairing_code_invalid`` (unknown, used or expired code).
        RateLimitedError: too many invalid codes from this address (``retry_after`` seconds).
    """
    client = ApiClient(api_url, **options)
    payload = {"pairing_code": code_from_pairing_url(pairing_code)}
    return load(PairedTerminal, client.call("POST", "/pair", payload=payload, idempotent=False))

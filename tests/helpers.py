"""Small helpers shared by the unit, integration and e2e tests (importable as ``helpers``: pytest puts
``tests/`` on the path for the root conftest)."""

from __future__ import annotations

import gc
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Unpack

import psutil

from facegate.security.signing import canonical_string, sign
from facegate_client.signing import SignatureOptions


class FakeClock:
    """A controllable UTC clock (second precision), called like ``Services.clock``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set_second_of_minute(self, second: int) -> None:
        """Move forward to the next moment whose unix time is ``second`` mod 60."""
        delta = (second - int(self.now.timestamp()) % 60) % 60
        self.now += timedelta(seconds=delta or 60)


def multipart(parts: Sequence[bytes], name: str, content_type: str = "image/jpeg") -> tuple[bytes, str]:
    """A multipart/form-data body with one part per image, all named ``name``; returns (body, content type)."""
    boundary = f"fg{uuid.uuid4().hex}"
    chunks = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}{i}.jpg"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + part
        + b"\r\n"
        for i, part in enumerate(parts)
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def invite_body(now: datetime, door_ids: Sequence[str], hours: float = 4, start_offset: float = -60) -> dict[str, Any]:
    """The JSON body of ``POST /sites/{site_id}/invites``: valid from ``start_offset`` seconds after ``now``
    until ``hours`` after it."""
    return {
        "door_ids": list(door_ids),
        "valid_from": (now + timedelta(seconds=start_offset)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "display_name": "Visitor",
    }


def signed_headers(
    key_id: str,
    secret: str,
    path: str,
    body: bytes,
    now: datetime,
    *,
    content_type: str | None = "image/jpeg",
    method: str = "POST",
    **signing: Unpack[SignatureOptions],
) -> dict[str, str]:
    """The headers of a terminal request, signed with the server's own function (which signs any value, so that
    hostile claims the SDK refuses to sign can be sent too), with lower-case names; ``signing``: the SDK's
    signature keywords (``claim``, ``challenge``, ``liveness``, ``nonce``, ``timestamp`` in unix seconds, default:
    ``now``), each header sent when given; ``content_type`` unless None."""
    assert set(signing) <= SignatureOptions.__optional_keys__, f"unknown signing keywords: {set(signing)}"
    timestamp = signing.get("timestamp")
    ts = str(int(now.timestamp()) if timestamp is None else timestamp)
    nonce = signing.get("nonce") or secrets.token_urlsafe(18)
    claim, challenge, liveness = signing.get("claim"), signing.get("challenge"), signing.get("liveness")
    signature = sign(secret, canonical_string(method, path, ts, nonce, body, claim, challenge, liveness))
    headers = {
        "x-facegate-key-id": key_id,
        "x-facegate-timestamp": ts,
        "x-facegate-nonce": nonce,
        "x-facegate-signature": signature,
    }
    optional = {
        "content-type": content_type,
        "x-facegate-claim": claim,
        "x-facegate-challenge": challenge,
        "x-facegate-liveness": liveness,
    }
    headers.update({name: value for name, value in optional.items() if value is not None})
    return headers


def rss_bytes() -> int:
    """This process's resident set size, bytes, after a garbage collection."""
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux only); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The peak resident set size since the last :func:`reset_peak_rss`, bytes (Linux ``VmHWM``)."""
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


@contextmanager
def local_http_server(serve: Callable[[BaseHTTPRequestHandler, bytes], None]) -> Iterator[str]:
    """A threaded HTTP server on a free local port for the block: every GET, POST, PATCH and DELETE is answered by
    ``serve(handler, body)`` (the request body already read); yields the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            serve(self, self.rfile.read(length) if length else b"")

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""Small helpers shared by the unit, integration and e2e tests (importable as ``helpers``: pytest puts
``tests/`` on the path for the root conftest)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta


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

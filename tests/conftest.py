"""Shared test fixtures: where the read-only data sets live, and how property tests draw their examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
"""Property tests draw the same examples on every run (``make test`` must not pass or fail by luck); set
``HYPOTHESIS_PROFILE=explore`` to search new examples locally and turn what they find into tests."""


def shared_dir_path() -> Path:
    """``../shared`` beside the repository, or ``$FACEGATE_SHARED_DIR`` when set."""
    override = os.environ.get("FACEGATE_SHARED_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder; skips the test when it is absent."""
    path = shared_dir_path()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found (set FACEGATE_SHARED_DIR)")
    return path


def dataset_dir(shared_dir: Path, name: str, marker: str) -> Path:
    """``datasets/<name>`` of the shared folder; skips the test when its file ``marker`` is absent."""
    path = shared_dir / "datasets" / name
    if not (path / marker).is_file():
        pytest.skip(f"data set {name} not found under {path} (no {marker})")
    return path


@pytest.fixture(scope="session")
def lfw_dev_dir(shared_dir: Path) -> Path:
    """LFW View 1 development images (``datasets/lfw-dev``); skips the test when absent."""
    return dataset_dir(shared_dir, "lfw-dev", "pairsDevTest.txt")


@pytest.fixture(scope="session")
def edge_dir(shared_dir: Path) -> Path:
    """The edge-case photos (``datasets/edge``: masks, profiles, full-body shots); skips the test when absent."""
    return dataset_dir(shared_dir, "edge", "README.md")


# --- backend harness: the API in-process over any wired Services --------------------------------

from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from typing import Any  # noqa: E402

from facegate.api.app import build_resolver  # noqa: E402
from facegate.api.catalog import ALL_ROUTERS  # noqa: E402
from facegate.api.deps import provide_services  # noqa: E402
from facegate.usecases.context import Services  # noqa: E402
from facegate_tools.local.inprocess import ApiResponse, InProcessApi  # noqa: E402
from helpers import FakeClock, invite_body, multipart, signed_headers  # noqa: E402

ADMIN_CLAIMS = {"sub": "admin-1", "cognito:groups": "[admins]"}


@dataclass
class Stack:
    """The whole API in-process: admin, host, visitor and terminal calls as one test would make them."""

    api: InProcessApi
    services: Services
    clock: Callable[[], datetime]
    site_id: str = ""
    door_id: str = ""
    terminal: dict[str, Any] = field(default_factory=dict)

    def admin(self, method: str, path: str, json_body: Any = None, **kw: Any) -> ApiResponse:
        return self.api.request(method, path, json_body=json_body, claims=ADMIN_CLAIMS, **kw)

    def host(self, site_ids: Sequence[str], method: str, path: str, json_body: Any = None) -> ApiResponse:
        claims = {"sub": "host-1", "cognito:groups": "[hosts]", "custom:site_ids": ",".join(site_ids)}
        return self.api.request(method, path, json_body=json_body, claims=claims)

    def create_site(self, doors: int = 1) -> None:
        site = self.admin("POST", "/sites", {"name": "Sejong Complex", "timezone": "Asia/Seoul"})
        assert site.status == 201, site.body
        self.site_id = site.json()["site_id"]
        door_ids = []
        for i in range(doors):
            door = self.admin("POST", f"/sites/{self.site_id}/doors", {"name": f"Gate {i}"})
            assert door.status == 201, door.body
            door_ids.append(door.json()["door_id"])
        self.door_id = door_ids[0]
        terminal = self.admin("POST", f"/sites/{self.site_id}/terminals", {"name": "kiosk", "door_ids": door_ids})
        assert terminal.status == 201, terminal.body
        self.terminal = terminal.json()

    def invite(
        self, hours: float = 4, start_offset: float = -60, door_ids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        body = invite_body(self.clock(), door_ids or [self.door_id], hours, start_offset)
        response = self.admin("POST", f"/sites/{self.site_id}/invites", body)
        assert response.status == 201, response.body
        invite: dict[str, Any] = response.json()
        return invite

    def consent(self, token: str) -> ApiResponse:
        notice = self.api.request("GET", f"/register/{token}/notice").json()
        return self.api.request(
            "POST",
            f"/register/{token}/consent",
            json_body={"consent_version": notice["consent_version"], "accepted": True},
        )

    def enroll(self, token: str, images: Sequence[bytes], idempotency_key: str | None = None) -> ApiResponse:
        body, content_type = multipart(images, "image")
        headers = {"content-type": content_type}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        return self.api.request("POST", f"/register/{token}/selfie", body=body, headers=headers)

    def signed_headers(
        self, path: str, body: bytes, *, terminal: dict[str, Any] | None = None, **signing: Any
    ) -> dict[str, str]:
        """The signature headers of a request of ``terminal`` (default: the stack's) now; ``signing``: see
        :func:`helpers.signed_headers`."""
        term = terminal or self.terminal
        return signed_headers(term["key_id"], term["secret"], path, body, self.clock(), **signing)

    def verify(self, frames: Sequence[bytes] | bytes, door_id: str | None = None, **kw: Any) -> ApiResponse:
        path = f"/doors/{door_id or self.door_id}/verify"
        if isinstance(frames, bytes):
            body, content_type = frames, "image/jpeg"
        else:
            body, content_type = multipart(frames, "frame")
        headers = self.signed_headers(path, body, content_type=content_type, **kw)
        return self.api.request("POST", path, body=body, headers=headers)


def in_memory_services(engine: Any, clock: Callable[[], datetime], policy: Any = None) -> Services:
    """Services over the in-memory adapters, with ``engine`` as the face engine (``policy`` None = the
    shipped calibration's door policy)."""
    from facegate.runtime import memory_services
    from facegate.settings import Settings

    return memory_services(Settings(), lambda: engine, policy=policy, clock=clock)


def in_process_api(services: Services) -> InProcessApi:
    """All routers in one resolver, with ``services`` injected."""
    resolver = build_resolver(*ALL_ROUTERS)
    resolver.dependency_overrides[provide_services] = lambda: services
    return InProcessApi(resolver)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_services() -> Callable[..., Services]:
    """:func:`in_memory_services`: builds Services over the in-memory adapters around a given engine and clock."""
    return in_memory_services


@pytest.fixture
def make_stack() -> Callable[[Services], Stack]:
    """Builds a :class:`Stack` over given services (their clock is the stack's clock)."""

    def build(services: Services) -> Stack:
        return Stack(api=in_process_api(services), services=services, clock=services.clock)

    return build

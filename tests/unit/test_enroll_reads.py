"""An enrollment reads its invite once and its site once, with or without an ``Idempotency-Key``, and a
replayed key still answers with the claim code the first request made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from facegate.adapters import memory
from facegate.usecases.context import Services

READS = ("get_invite", "get_invite_by_token", "get_site")


class CountingRepository:
    """The in-memory repository, counting the reads a request makes (everything else passes through)."""

    def __init__(self, inner: memory.MemoryRepository) -> None:
        self.inner = inner
        self.reads: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in READS:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.reads[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def engine() -> memory.MemoryFaceEngine:
    eng = memory.MemoryFaceEngine()
    face = np.random.default_rng(7).normal(size=128).astype(np.float32)
    for i in range(1, 4):
        jitter = np.random.default_rng(i).normal(size=128).astype(np.float32)
        eng.register(f"s{i}".encode(), face / np.linalg.norm(face) + 0.05 * jitter / np.linalg.norm(jitter))
    return eng


@pytest.fixture
def stack(
    engine: memory.MemoryFaceEngine,
    clock: Any,
    memory_services: Callable[..., Services],
    make_stack: Callable[[Services], Any],
) -> Any:
    services = memory_services(engine, clock)
    services.repo = CountingRepository(services.repo)  # type: ignore[assignment]
    built = make_stack(services)
    built.create_site()
    return built


@pytest.mark.parametrize("key", [None, "enroll-key-0001"])
def test_an_enrollment_reads_the_invite_once_and_the_site_once(stack: Any, key: str | None) -> None:
    # Given a visitor who consented
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    repo: CountingRepository = stack.services.repo
    repo.reads.clear()
    # When they send three selfies (with or without an Idempotency-Key)
    response = stack.enroll(invite["token"], [b"s1", b"s2", b"s3"], idempotency_key=key)
    # Then they are enrolled, and the invite (token lookup) and the site were each read once
    assert response.status == 201, response.body
    assert len(response.json()["claim_code"]) == 8
    assert repo.reads == Counter({"get_invite_by_token": 1, "get_site": 1})


def test_a_replayed_key_reads_once_and_answers_with_the_first_claim_code(stack: Any) -> None:
    # Given an enrollment made with an Idempotency-Key
    invite = stack.invite()
    assert stack.consent(invite["token"]).status == 201
    first = stack.enroll(invite["token"], [b"s1", b"s2", b"s3"], idempotency_key="enroll-key-0001")
    assert first.status == 201, first.body
    repo: CountingRepository = stack.services.repo
    repo.reads.clear()
    # When the same request is retried with the same key
    again = stack.enroll(invite["token"], [b"s1", b"s2", b"s3"], idempotency_key="enroll-key-0001")
    # Then the first result comes back, claim code included, after one read of the invite and of the site
    assert again.status == 201, again.body
    assert again.json() == first.json()
    assert repo.reads == Counter({"get_invite_by_token": 1, "get_site": 1})

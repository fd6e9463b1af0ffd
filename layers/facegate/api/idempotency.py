"""``Idempotency-Key`` support on top of Powertools' idempotency utility.

A retried request with the same key and the same body returns the first result without doing
the work again; the same key with a different body is a 409 ``idempotency_conflict``. Only the
small JSON result is stored (never an image), and records expire after 10 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from facegate.errors import Conflict, InvalidRequest
from facegate.usecases.context import Services

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
EXPIRES_AFTER_SECONDS = 600
_CONFIG = IdempotencyConfig(
    event_key_jmespath="[scope, key]",
    payload_validation_jmespath="payload",
    expires_after_seconds=EXPIRES_AFTER_SECONDS,
    raise_on_no_idempotency_key=True,
)


def run_once(
    services: Services,
    scope: str,
    key: str,
    payload_hash: str,
    work: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """Run ``work`` once per (``scope``, ``key``); replays return the stored result.

    Args:
        scope: what the key is unique within (e.g. ``enroll#<token hash>``).
        key: the client's ``Idempotency-Key`` (8-128 characters of ``[A-Za-z0-9._:-]``).
        payload_hash: hex hash of the request's images, checked on replay.
        lambda_context: the invocation's context (lets Powertools expire an in-progress record on timeout).
    """
    if not KEY_PATTERN.match(key):
        raise InvalidRequest("Idempotency-Key must be 8-128 characters of A-Z a-z 0-9 . _ : -", code="invalid_request")

    if lambda_context is not None:
        _CONFIG.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=services.idempotency,
        config=_CONFIG,
        key_prefix="facegate.enroll",
    )
    def once(request: dict[str, str]) -> dict[str, Any]:
        return work()

    try:
        result: dict[str, Any] = once(request={"scope": scope, "key": key, "payload": payload_hash})
    except IdempotencyValidationError as exc:
        raise Conflict("this Idempotency-Key was used with a different body", code="idempotency_conflict") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_conflict") from exc
    return result

"""The one table that maps domain errors to HTTP, and the error response shape.

Every error body is ``{"error": {"code": ..., "message": ...}}``; 429/503 carry ``Retry-After``.
Unexpected exceptions become a generic 500 ``internal_error``: no stack trace or internal
message ever reaches a client.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response, content_types

from facegate import errors
from facegate.api.observability import count, logger

STATUS_BY_ERROR: tuple[tuple[type[errors.FacegateError], int], ...] = (
    (errors.InvalidRequest, 400),
    (errors.ImageRejected, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.ModelMismatch, 409),
    (errors.Gone, 410),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.FaceRejected, 422),
    (errors.RateLimited, 429),
    (errors.ServiceUnavailable, 503),
    (errors.ModelUnavailable, 503),
)
"""Everything else, e.g. ``decryption_failed`` (stored data that no longer authenticates), is a 500
``internal_error`` that the resolver logs (by type, never by content)."""

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def status_for(error: errors.FacegateError) -> int:
    """HTTP status of a typed error (500 for a FacegateError subclass missing from the table)."""
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 500


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> Response[str]:
    """A JSON error response in the API's one error shape."""
    headers = dict(SECURITY_HEADERS)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


ATTACK_SIGNAL_STATUSES = frozenset({401, 403, 429})
"""Refusals that are signals of an attack (bad credentials, wrong door, throttled): each one is logged as a
structured line and counted as the ``Refused`` metric by ``code``, never with the token, key or secret."""


def record_refusal(status: int, code: str) -> None:
    """Log and count one refused request (the code only: no path, since visitor paths carry the token)."""
    logger.warning("request refused", extra={"refusal_code": code, "status": status})
    count("Refused", code=code)


def response_for(error: errors.FacegateError) -> Response[str]:
    """The HTTP response of a typed error (401/403/429 are also logged and counted: :func:`record_refusal`)."""
    status = status_for(error)
    if status == 500:
        return error_response(500, "internal_error", "an internal error occurred")
    if status in ATTACK_SIGNAL_STATUSES:
        record_refusal(status, error.code)
    retry_after = getattr(error, "retry_after", None)
    return error_response(status, error.code, error.message, retry_after if isinstance(retry_after, int) else None)

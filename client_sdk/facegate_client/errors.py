"""Typed errors raised by the facegate client.

Every failed API call raises a subclass of :class:`FacegateClientError`. The class follows the HTTP
status; ``code`` is the API's stable snake_case error code (for example ``no_face`` or
``nonce_reused``). Bodies that are not the API's error envelope (a gateway's ``{"message": ...}``,
an HTML error page) are mapped by status alone, with ``code`` ``unauthorized`` for 401 and
``http_<status>`` otherwise.

A face that does not match at the door is not an error: it is a ``deny`` :class:`~facegate_client.Decision`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FaceQualityError",
    "FacegateClientError",
    "GoneError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
    "error_from_response",
    "parse_retry_after",
]


class FacegateClientError(Exception):
    """Base class of every error raised for an API call.

    Attributes:
        status: HTTP status code, or None when no response arrived (:class:`TransportError`).
        code: stable snake_case error code from the API (``http_<status>`` when the body had none).
        message: human-readable text, safe to show to a user.
        retry_after: seconds the server asked the client to wait (``Retry-After``), or None.
    """

    def __init__(self, status: int | None, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, retry_after={self.retry_after!r})"
        )


class BadRequestError(FacegateClientError):
    """400: malformed request or image (``invalid_request``, ``corrupt_image``, ``image_too_large``, ...)."""


class AuthenticationError(FacegateClientError):
    """401: missing or bad credential (``unauthorized``, ``invalid_token``, ``invalid_signature``, ...)."""


class PermissionDeniedError(FacegateClientError):
    """403: authenticated but not allowed (``forbidden``, ``door_not_allowed``, ``site_not_allowed``)."""


class NotFoundError(FacegateClientError):
    """404: the resource does not exist (``not_found``)."""


class ConflictError(FacegateClientError):
    """409: state conflict (``consent_required``, ``consent_version_mismatch``, ``idempotency_conflict``, ...)."""


class GoneError(FacegateClientError):
    """410: the invite expired or was revoked (``invite_expired``, ``invite_revoked``)."""


class PayloadTooLargeError(FacegateClientError):
    """413: the body exceeds the size limit (5 MB for selfies)."""


class UnsupportedMediaTypeError(FacegateClientError):
    """415: the Content-Type is not accepted."""


class FaceQualityError(FacegateClientError):
    """422: the image holds no usable face; ``code`` is the reason (``no_face``, ``too_blurry``, ...)."""


class RateLimitedError(FacegateClientError):
    """429: too many requests (``rate_limited``; servers before issue 15 also ``cooling_down``); see ``retry_after``."""


class ServiceUnavailableError(FacegateClientError):
    """5xx: the service failed or is unavailable (``service_unavailable``, ``internal_error``, ``http_502``, ...)."""


class TransportError(FacegateClientError):
    """No HTTP response arrived: DNS failure, refused connection, TLS failure, timeout, dropped connection.

    Attributes:
        sent: False when the failure happened before any byte of the request was sent (connection
            could not be established), so the server certainly did not process it; True when the
            request may have reached the server.
    """

    def __init__(self, code: str, message: str, *, sent: bool) -> None:
        super().__init__(None, code, message)
        self.sent = sent


class UnexpectedResponseError(FacegateClientError):
    """A response that does not follow the contract (bad JSON, missing field, unexpected status)."""


_STATUS_CLASSES: Mapping[int, type[FacegateClientError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: FaceQualityError,
    429: RateLimitedError,
}


def _error_class(status: int) -> type[FacegateClientError]:
    if status >= 500:
        return ServiceUnavailableError
    return _STATUS_CLASSES.get(status, FacegateClientError)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header value.

    Args:
        value: delay in seconds (``"3"``) or an HTTP date; None when the header is absent.
        now: reference time for HTTP dates (default: the current UTC time).

    Returns:
        The delay in seconds (≥ 0), or None when absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def error_from_response(
    status: int, body: bytes, *, retry_after: str | None = None, reason: str = ""
) -> FacegateClientError:
    """Build the typed error for a non-success HTTP response.

    Args:
        status: HTTP status code (expected ≥ 300).
        body: raw response body; the API's envelope is ``{"error": {"code", "message"}}``.
        retry_after: raw ``Retry-After`` header value, if any (seconds or HTTP date).
        reason: HTTP reason phrase, used in the message when the body carries none.

    Returns:
        An instance of the subclass that matches the status, never raised here.
    """
    code: str | None = None
    message: str | None = None
    try:
        payload = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict):
        envelope = payload.get("error")
        if isinstance(envelope, dict):
            raw_code, raw_message = envelope.get("code"), envelope.get("message")
            code = raw_code if isinstance(raw_code, str) and raw_code else None
            message = raw_message if isinstance(raw_message, str) and raw_message else None
        elif isinstance(payload.get("message"), str):
            message = payload["message"]
    if code is None:
        code = "unauthorized" if status == 401 else f"http_{status}"
    if message is None:
        message = f"HTTP {status} {reason}".strip()
    return _error_class(status)(status, code, message, parse_retry_after(retry_after))

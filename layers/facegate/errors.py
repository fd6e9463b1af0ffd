"""Typed errors of facegate.

Every error the product raises on purpose derives from :class:`FacegateError` and carries a
stable, machine-readable ``code`` (snake_case, part of the public contract) and a short,
client-safe ``message``. The HTTP layer maps each error class to a status code in one table
(:mod:`facegate.api.errors`); nothing else ever reaches a client.

A face that does not match is *not* an error: it is a normal ``deny`` decision.
"""

from __future__ import annotations

from typing import ClassVar


class FacegateError(Exception):
    """Base class of every deliberate facegate error.

    Args:
        message: client-safe text (never includes secrets, tokens, images or internals).
        code: overrides the class default code (stable snake_case identifier).
    """

    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "request failed"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code  # type: ignore[misc]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidRequest(FacegateError):
    """The request is malformed or fails schema validation (HTTP 400)."""

    code = "invalid_request"
    default_message = "the request is not valid"


class PayloadTooLarge(FacegateError):
    """The body or an image exceeds a size limit (HTTP 413)."""

    code = "payload_too_large"
    default_message = "the request body is too large"


class UnsupportedMediaType(FacegateError):
    """The Content-Type or the image format is not accepted (HTTP 415)."""

    code = "unsupported_media_type"
    default_message = "this content type is not accepted"


class ImageRejected(FacegateError):
    """The bytes are not a safe, decodable image (HTTP 400).

    Codes: ``empty_image``, ``corrupt_image``, ``image_too_large`` (pixel or dimension limit),
    ``unsupported_image_format``.
    """

    code = "corrupt_image"
    default_message = "the image could not be decoded"


class FaceRejected(FacegateError):
    """The image decoded but holds no usable face for the operation (HTTP 422).

    Codes: ``no_face``, ``multiple_faces``, ``face_too_small``, ``too_blurry``, ``too_dark``,
    ``overexposed``, ``pose_too_far``, ``inconsistent_faces``.
    """

    code = "no_face"
    default_message = "no usable face was found"


class ModelMismatch(FacegateError):
    """Two templates come from different models and cannot be compared (HTTP 409)."""

    code = "model_mismatch"
    default_message = "templates of different models cannot be compared"


class ModelUnavailable(FacegateError):
    """The model files are missing or do not match their manifest."""

    code = "model_unavailable"
    default_message = "the face model is not available"


class Unauthorized(FacegateError):
    """Missing or invalid credentials (HTTP 401)."""

    code = "unauthorized"
    default_message = "authentication is required"


class Forbidden(FacegateError):
    """Valid credentials that do not grant this action (HTTP 403)."""

    code = "forbidden"
    default_message = "this action is not allowed"


class NotFound(FacegateError):
    """The addressed resource does not exist or is not visible to the caller (HTTP 404)."""

    code = "not_found"
    default_message = "not found"


class Conflict(FacegateError):
    """The request conflicts with the current state (HTTP 409)."""

    code = "conflict"
    default_message = "the request conflicts with the current state"


class Gone(FacegateError):
    """The resource existed but has ended (expired or erased invite) (HTTP 410)."""

    code = "gone"
    default_message = "this resource is no longer available"


class RetryLater(FacegateError):
    """An error the client may retry after ``retry_after`` seconds (the ``Retry-After`` header).

    Args:
        retry_after: seconds to wait (>= 1); default: the class's ``default_retry_after``.
    """

    default_retry_after: ClassVar[int] = 1

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(self.default_retry_after if retry_after is None else retry_after))


class RateLimited(RetryLater):
    """Too many requests from this caller (HTTP 429); ``retry_after``: seconds until it may try again."""

    code = "rate_limited"
    default_message = "too many requests"


class ServiceUnavailable(RetryLater):
    """A dependency (DynamoDB, KMS) failed after retries (HTTP 503); ``retry_after``: seconds to wait (default 2)."""

    code = "service_unavailable"
    default_message = "the service is temporarily unavailable"
    default_retry_after = 2


class DeliveryFailed(ServiceUnavailable):
    """An e-mail or event could not be handed to SES / EventBridge (HTTP 503 where a client asked for it)."""

    code = "delivery_failed"
    default_message = "the message could not be delivered; try again later"

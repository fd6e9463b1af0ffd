"""Python client for the facegate API.

* :class:`AdminClient` — admins and hosts (Cognito ID token): sites, doors, terminals, invites, erasure, audit.
* :class:`VisitorClient` — a visitor's registration link: notice, consent, selfie enrollment, status, erasure.
* :class:`TerminalClient` — a door terminal (HMAC-signed): face verification, grant or deny.
* :func:`verify_unlock_token` — offline check of a grant's unlock token on the door controller.

Standard library and Pillow only; no dependency on the server package.
"""

from facegate_client import models
from facegate_client._http import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    ClientOptions,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    Transport,
)
from facegate_client._version import __version__
from facegate_client.admin import AdminClient
from facegate_client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FacegateClientError,
    FaceQualityError,
    GoneError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    TransportError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
)
from facegate_client.images import ImageInput, ImageInputError, PreparedImage, detect_content_type, prepare_image
from facegate_client.models import *  # noqa: F403 (the result types: the names of models.__all__)
from facegate_client.pairing import code_from_pairing_url, pair_kiosk
from facegate_client.signing import (
    MalformedUnlockTokenError,
    ReplayCache,
    SignatureOptions,
    UnlockClaims,
    UnlockTokenClaimsError,
    UnlockTokenError,
    UnlockTokenReplayError,
    UnlockTokenSignatureError,
    canonical_string,
    sign_request,
    signature_headers,
    verify_unlock_token,
)
from facegate_client.terminal import TerminalClient
from facegate_client.visitor import VisitorClient, parse_registration_url

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "AdminClient",
    "AuthenticationError",
    "BadRequestError",
    "ClientOptions",
    "ConflictError",
    "FaceQualityError",
    "FacegateClientError",
    "GoneError",
    "HttpRequest",
    "HttpResponse",
    "HttpTransport",
    "ImageInput",
    "ImageInputError",
    "MalformedUnlockTokenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreparedImage",
    "RateLimitedError",
    "ReplayCache",
    "ServiceUnavailableError",
    "SignatureOptions",
    "TerminalClient",
    "Transport",
    "TransportError",
    "UnexpectedResponseError",
    "UnlockClaims",
    "UnlockTokenClaimsError",
    "UnlockTokenError",
    "UnlockTokenReplayError",
    "UnlockTokenSignatureError",
    "UnsupportedMediaTypeError",
    "VisitorClient",
    "__version__",
    "canonical_string",
    "code_from_pairing_url",
    "detect_content_type",
    "pair_kiosk",
    "parse_registration_url",
    "prepare_image",
    "sign_request",
    "signature_headers",
    "verify_unlock_token",
]
__all__ += models.__all__

"""The OpenAPI 3.1 document of the whole API, generated from the route modules.

Powertools generates paths and schemas from the routes' pydantic models; this module adds what
it cannot infer: the security schemes, the binary image request bodies and the terminal
signature headers. ``openapi.json`` in the repository is this document (a test keeps them equal).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from facegate import __version__
from facegate.api.body import MAX_FRAME_PARTS, MAX_SELFIE_PARTS

ADMIN_SECURITY: list[dict[str, list[str]]] = [{"cognitoJwt": []}]
TERMINAL_SECURITY: list[dict[str, list[str]]] = [{"terminalSignature": []}]
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_TEXT = {
    400: "invalid request or image",
    401: "missing or invalid credentials",
    403: "not allowed for this caller",
    404: "not found",
    409: "conflicts with the current state",
    410: "the invite ended or was cancelled",
    413: "body too large",
    415: "unsupported content type",
    422: "no usable face (the code says why)",
    429: "too many requests (see Retry-After)",
    503: "temporarily unavailable (see Retry-After)",
}
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")


def responses(success: int, model: type[BaseModel], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route: ``success`` with ``model``, and ``errors`` with the one error body."""
    out: dict[int, OpenAPIResponse] = {
        success: {
            "description": "created" if success == 201 else "ok",
            "content": {"application/json": {"model": model}},
        }
    }
    for status in errors:
        response: OpenAPIResponse = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
        out[status] = response
    return out


def admin_route[H: Callable[..., Any]](
    method: Callable[..., Callable[[H], H]],
    path: str,
    success: int,
    model: type[BaseModel],
    *errors: int,
    tags: list[str],
) -> Callable[[H], H]:
    """The decorator of a console route behind the Cognito JWT (:data:`ADMIN_SECURITY`).

    Args:
        method: the router's ``get``, ``post``, ``put`` or ``delete``.
        path: the route, with ``<name>`` path parameters.
        success: the HTTP status of success (also the route's status code when it is not 200), answered with
            ``model``; ``errors``: the statuses answered with the error body (see :func:`responses`).
        tags: the OpenAPI tags (``admin``, ``host``).
    """
    options: dict[str, Any] = {} if success == 200 else {"status_code": success}
    return method(path, security=ADMIN_SECURITY, responses=responses(success, model, *errors), tags=tags, **options)


def _image_body(part_name: str, description: str, max_items: int) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    content: dict[str, Any] = {media: {"schema": binary} for media in IMAGE_MEDIA_TYPES}
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "properties": {part_name: {"type": "array", "items": binary, "minItems": 1, "maxItems": max_items}},
            "required": [part_name],
        }
    }
    return {"required": True, "description": description, "content": content}


def _header(name: str, description: str, required: bool, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _augment(document: dict[str, Any]) -> dict[str, Any]:
    paths = document["paths"]
    for operations in paths.values():
        for operation in operations.values():
            if "tags" in operation:  # Powertools keeps a route's tags in a set: hash order, not stable
                operation["tags"] = sorted(operation["tags"])
            generated = operation["responses"].get("422", {})
            if "HTTPValidationError" in json.dumps(generated):
                del operation["responses"]["422"]
            operation["responses"]["default"] = {
                "description": "any other error (e.g. 500 internal_error, 503 service_unavailable)",
                "content": {"application/json": {"schema": ERROR_REF}},
            }
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    selfie = paths["/register/{token}/selfie"]["post"]
    selfie["requestBody"] = _image_body(
        "image", f"one selfie, or 1-{MAX_SELFIE_PARTS} parts named 'image'; 5 MB in all", MAX_SELFIE_PARTS
    )
    selfie.setdefault("parameters", []).append(
        _header("Idempotency-Key", "retries with the same key return the first result", False, type="string")
    )
    verify = paths["/doors/{door_id}/verify"]["post"]
    verify["requestBody"] = _image_body(
        "frame", f"the face crop, or 1-{MAX_FRAME_PARTS} parts named 'frame' (a burst)", MAX_FRAME_PARTS
    )
    verify.setdefault("parameters", []).extend(
        [
            _header("X-Facegate-Key-Id", "the terminal's key id", True, type="string"),
            _header("X-Facegate-Timestamp", "unix time, seconds", True, type="string", pattern="^[0-9]{1,12}$"),
            _header("X-Facegate-Nonce", "unique per request, >= 16 characters", True, type="string", minLength=16),
            _header("X-Facegate-Signature", "lowercase hex HMAC-SHA256, see README", True, type="string"),
            _header("X-Facegate-Claim", "the visitor's 8-character claim code (1:1 mode)", False, type="string"),
        ]
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorBody"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    return document


def document_of(resolver: APIGatewayHttpResolver) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``resolver``'s routes, with what Powertools cannot infer added."""
    schema = resolver.get_openapi_schema(
        title="facegate",
        version=__version__,
        description="Consent-first face verification for building access. See docs/api.md.",
        security_schemes={
            "cognitoJwt": HTTPBearer(
                bearerFormat="JWT",
                description="Cognito ID token; group admins or hosts (hosts: custom:site_ids lists their sites)",
            ),
            "terminalSignature": APIKey(
                name="X-Facegate-Signature",
                **{"in": APIKeyIn.header},
                description="HMAC-SHA256 request signature with X-Facegate-Key-Id, -Timestamp and -Nonce (README)",
            ),
        },
    )
    document = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
    return _augment(document)


def document_json(document: dict[str, Any]) -> str:
    """``document`` as stable, pretty JSON text (what ``openapi.json`` in the repository holds)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

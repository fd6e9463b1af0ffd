"""Checks that run before Powertools parses or validates anything (issue 12, items 1 and 2).

Powertools runs its request validation (JSON parsing, pydantic) before any route middleware, so
these checks replace its validation middleware with a subclass that checks first, then validates:

1. **The credential before the body.** On visitor routes with a JSON body (``/register/{token}/consent``)
   the invite token is looked up before the body is parsed or validated: a request without a valid link
   costs one hash lookup, counts towards the bad-token limit, and never reaches a parser. (The selfie
   route, which parses no JSON, does the same in its handler before reading the body.)
2. **JSON limits before parsing.** On routes with a JSON body: the declared type must be
   ``application/json`` (415 ``unsupported_media_type``), the body at most :data:`MAX_JSON_BYTES`
   (413), nested at most :data:`MAX_JSON_DEPTH` deep (400 ``json_too_deep``), no number literal longer
   than :data:`MAX_NUMBER_DIGITS` digits (400 ``number_too_long``), and it must parse (400
   ``invalid_request``). Python's parser recurses per nesting level and refuses integers of more than
   4,300 digits with exceptions that used to surface as 500s.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware

from facegate.api.body import media_type
from facegate.api.deps import provide_services, source_ip_of
from facegate.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

MAX_JSON_BYTES = 16_384
"""Largest JSON request body (the largest valid one, an invite with 50 door ids, is under 4 KiB)."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of arrays and objects in a JSON body (the schemas need 2)."""
MAX_NUMBER_DIGITS = 20
"""Longest run of digits in a JSON number literal."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_LONG_NUMBER = re.compile(rb"[0-9]{%d,}" % (MAX_NUMBER_DIGITS + 1))
_OPENERS = frozenset(b"[{")


def check_json_body(content_type: str | None, body: bytes) -> Any:
    """Check a JSON body against the limits above and return it parsed (None when empty).

    Raises:
        UnsupportedMediaType: another declared type, or a charset other than UTF-8.
        PayloadTooLarge: more than :data:`MAX_JSON_BYTES`.
        InvalidRequest: ``json_too_deep``, ``number_too_long`` or ``invalid_request`` (not JSON).
    """
    kind = media_type(content_type)
    if kind not in ("", "application/json"):
        raise UnsupportedMediaType("send application/json", code="unsupported_media_type")
    charset = re.search(r"charset=\"?([A-Za-z0-9_-]+)", content_type or "")
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("send application/json in UTF-8", code="unsupported_media_type")
    if len(body) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"a JSON body may be at most {MAX_JSON_BYTES} bytes")
    if not body.strip():
        return None
    skeleton = _STRING.sub(b'""', body)
    depth = deepest = 0
    for bracket in _BRACKET.finditer(skeleton):
        depth += 1 if bracket.group()[0] in _OPENERS else -1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            raise InvalidRequest(f"the JSON body is nested more than {MAX_JSON_DEPTH} deep", code="json_too_deep")
    if _LONG_NUMBER.search(skeleton):
        raise InvalidRequest(f"a number has more than {MAX_NUMBER_DIGITS} digits", code="number_too_long")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the body is not valid JSON") from exc


def _event_body(event: Any) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(raw) > (MAX_JSON_BYTES * 4) // 3 + 4:
            raise PayloadTooLarge(f"a JSON body may be at most {MAX_JSON_BYTES} bytes")
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("the body is not valid base64") from exc
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"a JSON body may be at most {MAX_JSON_BYTES} bytes")
    return str(raw).encode("utf-8", "surrogateescape")


class GuardedValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, preceded by the token gate and the JSON limits."""

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        route = app.context.get("_route")
        args = app.context.get("_route_args") or {}
        if route is not None and route.dependant.body_params:
            event = app.current_event.raw_event
            if str(route.path).startswith("/register/") and "token" in args:
                from facegate.usecases.visitor import find_invite

                provider = app.dependency_overrides.get(provide_services, provide_services)
                find_invite(provider(), str(args["token"]), source_ip_of(event))
            headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
            check_json_body(headers.get("content-type"), _event_body(event))
        response: Response[Any] = super().handler(app, next_middleware)
        return response


def install(app: APIGatewayHttpResolver) -> None:
    """Replace the resolver's request validation with :class:`GuardedValidation`."""
    from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
        OpenAPIResponseValidationMiddleware,
    )

    resolver: Any = app
    resolver._request_validation_middleware = GuardedValidation()
    resolver._response_validation_middleware = OpenAPIResponseValidationMiddleware(
        validation_serializer=resolver._serializer,
        has_response_validation_error=resolver._has_response_validation_error,
    )

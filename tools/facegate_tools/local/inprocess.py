"""Calling Powertools resolvers in-process with API Gateway v2 events (tests, benchmarks, local gateway)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from facegate_tools.local.events import LambdaContext, RequestParts, http_event


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An HTTP response as API Gateway would return it (header names lower-cased)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of an error body, else None."""
        try:
            data = self.json()
        except ValueError:
            return None
        error = data.get("error") if isinstance(data, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def to_response(result: Mapping[str, Any]) -> ApiResponse:
    """Turn a Lambda proxy result (payload v2) into an :class:`ApiResponse`."""
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(key).lower()] = ", ".join(str(v) for v in values)
    return ApiResponse(status=int(result.get("statusCode", 200)), headers=headers, body=body)


class InProcessApi:
    """Sends requests straight into a resolver, the way API Gateway would invoke the function."""

    def __init__(self, resolver: APIGatewayHttpResolver, function_name: str = "facegate-local") -> None:
        self.resolver = resolver
        self.function_name = function_name

    def request(self, method: str, path: str, **parts: Unpack[RequestParts]) -> ApiResponse:
        """One request; ``json_body`` is serialised with ``Content-Type: application/json``."""
        event = http_event(method, path, **parts)
        context: Any = LambdaContext(self.function_name)
        return to_response(self.resolver.resolve(event, context))

"""API Gateway HTTP API (payload v2.0) events, as the local gateway and the tests build them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, TypedDict, Unpack
from urllib.parse import parse_qsl

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


class RequestParts(TypedDict, total=False):
    """What a request carries besides its method and path (each part optional)."""

    route_key: str | None
    """The matched route, ``METHOD /path/{name}`` (default: the method and the path)."""
    path_parameters: Mapping[str, str] | None
    query: str
    """The raw query string (without ``?``)."""
    headers: Mapping[str, str] | None
    body: bytes
    json_body: Any
    """When not None: the body, serialised as JSON (``content-type: application/json`` unless the headers
    name one)."""
    claims: Mapping[str, Any] | None
    """What a JWT authorizer would put in ``requestContext.authorizer.jwt.claims``."""
    source_ip: str


def http_event(method: str, path: str, **parts: Unpack[RequestParts]) -> dict[str, Any]:
    """An API Gateway v2 event for one request.

    Header names are lower-cased (as API Gateway does); the body is base64-encoded unless it is
    textual (JSON, text/*), like API Gateway's handling of binary payloads.
    """
    headers = dict(parts.get("headers") or {})
    body = parts.get("body", b"")
    if parts.get("json_body") is not None:
        body = json.dumps(parts["json_body"]).encode()
        headers.setdefault("content-type", "application/json")
    query, claims, route_key = parts.get("query", ""), parts.get("claims"), parts.get("route_key")
    lowered = {key.lower(): value for key, value in headers.items()}
    content_type = lowered.get("content-type", "")
    textual = not body or content_type.startswith(TEXT_TYPES)
    now = time.time()
    context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": lowered.get("host", "127.0.0.1"),
        "domainPrefix": "local",
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": parts.get("source_ip", "127.0.0.1"),
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key or f"{method.upper()} {path}",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": context["routeKey"],
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": context,
        "isBase64Encoded": not textual,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if path_parameters := parts.get("path_parameters"):
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = body.decode("utf-8", "surrogateescape") if textual else base64.b64encode(body).decode()
    return event


class LambdaContext:
    """The few attributes of a Lambda context object that Powertools reads."""

    def __init__(self, function_name: str = "facegate-local") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 2048
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000

"""HTTP plumbing shared by the clients: transport, retries with backoff, JSON and multipart bodies."""

from __future__ import annotations

import dataclasses
import http.client
import json
import platform
import random
import secrets
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from facegate_client._options import check_keywords
from facegate_client._version import __version__
from facegate_client.errors import (
    FacegateClientError,
    TransportError,
    UnexpectedResponseError,
    error_from_response,
)
from facegate_client.images import PreparedImage
from facegate_client.models import _Model

if TYPE_CHECKING:
    from typing import Unpack

M = TypeVar("M", bound=_Model)

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "ClientOptions",
    "HttpRequest",
    "HttpResponse",
    "HttpTransport",
    "Transport",
    "backoff_delay",
    "encode_multipart",
]

BACKOFF_BASE_S = 0.2
"""Base of the exponential backoff, seconds: attempt n waits uniform(0, min(cap, base * 2**n))."""

BACKOFF_CAP_S = 5.0
"""Longest wait between two attempts, seconds; a longer Retry-After stops retrying."""


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as handed to a :class:`Transport` (``timeout`` in seconds per socket operation)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    """One HTTP response; header names are lower-case."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request; replace it to add a proxy, connection reuse or instrumentation."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` once (no retries) and return the response, whatever its status.

        Raises:
            TransportError: no response arrived; ``sent`` must be False only when no byte was sent.
        """
        ...


class HttpTransport:
    """The default transport: one ``http.client`` connection per request, no proxy, no redirects.

    Args:
        ssl_context: TLS settings for https URLs (default: the system trust store, certificate checks on).
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole response (see :class:`Transport`)."""
        split = urlsplit(request.url)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        connection: http.client.HTTPConnection
        if split.scheme == "https":
            connection = http.client.HTTPSConnection(split.netloc, timeout=request.timeout, context=self._context())
        else:
            connection = http.client.HTTPConnection(split.netloc, timeout=request.timeout)
        try:
            try:
                connection.connect()
            except ssl.SSLCertVerificationError as exc:
                raise TransportError(
                    "tls_error", f"TLS certificate check failed: {exc.verify_message}", sent=False
                ) from None
            except TimeoutError:
                raise TransportError("connect_timeout", f"connecting to {split.netloc} timed out", sent=False) from None
            except OSError as exc:
                raise TransportError(
                    "connection_failed", f"cannot connect to {split.netloc}: {exc}", sent=False
                ) from None
            try:
                connection.request(request.method, target, body=request.body, headers=dict(request.headers))
                response = connection.getresponse()
                body = response.read()
            except TimeoutError:
                raise TransportError("timeout", f"no response within {request.timeout} s", sent=True) from None
            except (OSError, http.client.HTTPException) as exc:
                raise TransportError("connection_error", f"the connection failed: {exc!r}", sent=True) from None
            headers = {name.lower(): value for name, value in response.getheaders()}
            return HttpResponse(response.status, response.reason, headers, body)
        finally:
            connection.close()


def backoff_delay(attempt: int, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Full-jitter exponential backoff: seconds to wait before retry number ``attempt`` (0-based)."""
    return random.uniform(0.0, min(cap_s, base_s * 2.0**attempt))


def encode_multipart(field: str, images: Sequence[PreparedImage]) -> tuple[bytes, str]:
    """Encode images as ``multipart/form-data`` parts that all carry the name ``field``.

    Returns:
        The body and its Content-Type header value (with the boundary).
    """
    while True:
        boundary = f"facegate-{secrets.token_hex(16)}"
        if not any(boundary.encode("ascii") in image.data for image in images):
            break
    chunks: list[bytes] = []
    for index, image in enumerate(images, start=1):
        extension = image.filename.rsplit(".", 1)[-1]
        chunks.append(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{field}-{index}.{extension}"\r\n'
            f"Content-Type: {image.content_type}\r\n\r\n".encode("ascii")
        )
        chunks.append(image.data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def image_body(field: str, images: Sequence[PreparedImage]) -> tuple[bytes, str]:
    """One image as a raw body with its own content type; several as multipart parts named ``field``."""
    if len(images) == 1:
        return images[0].data, images[0].content_type
    return encode_multipart(field, images)


def segment(value: str) -> str:
    """Percent-encode one path segment (an id) so it cannot change the route."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="")


SignFunction = Callable[[str, str, bytes], Mapping[str, str]]
"""Builds per-attempt auth headers from (method, wire path, body)."""


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every client (and :func:`~facegate_client.pair_kiosk`) takes for talking to the API.

    Keys:
        timeout: seconds allowed for each socket operation (connect, each read) of one attempt; default 10.
        retries: further attempts after a retryable failure (which ones, each client says); default 3.
        sleep: called with the backoff delay in seconds (inject a fake in tests); default :func:`time.sleep`.
        transport: sends the requests (default: :class:`~facegate_client.HttpTransport`).
        user_agent: overrides the User-Agent header.
    """

    timeout: float
    retries: int
    sleep: Callable[[float], None]
    transport: Transport | None
    user_agent: str | None


class ApiClient:
    """Base of the three clients: base URL, JSON calls and the retry policy.

    Retry policy: up to ``retries`` further attempts, waiting full-jitter exponential backoff
    (base 0.2 s, cap 5 s) or exactly ``Retry-After`` when the server sends it (a Retry-After above
    the cap is not waited for: the error is raised at once with ``retry_after`` set).

    * idempotent calls (GET, DELETE, POST with an Idempotency-Key) are retried on 429, on 5xx and on
      any transport failure;
    * other calls are retried only when the connection could not be established, so the request
      certainly never reached the server.
    """

    def __init__(self, api_url: str, **options: Unpack[ClientOptions]) -> None:
        check_keywords(options, ClientOptions.__optional_keys__)
        timeout = options.get("timeout", 10.0)
        retries = options.get("retries", 3)
        split = urlsplit(api_url.strip())
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"api_url must be an http(s) URL, got {api_url!r}")
        if split.query or split.fragment or "@" in split.netloc:
            raise ValueError("api_url must not carry credentials, a query or a fragment")
        if timeout <= 0:
            raise ValueError("timeout must be positive (seconds)")
        if retries < 0:
            raise ValueError("retries must be ≥ 0")
        self._origin = f"{split.scheme}://{split.netloc}"
        self._base_path = split.path.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._sleep = options.get("sleep", time.sleep)
        self._transport: Transport = options.get("transport") or HttpTransport()
        self._user_agent = (
            options.get("user_agent") or f"facegate-client/{__version__} python/{platform.python_version()}"
        )

    @property
    def api_url(self) -> str:
        """The API base URL (scheme, host, optional base path; no trailing slash)."""
        return self._origin + self._base_path

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        sign: SignFunction | None = None,
    ) -> HttpResponse:
        """Send a request with the retry policy; return the 2xx response or raise the typed error.

        Args:
            path: route path below the base URL (``/sites``); ids must already be :func:`segment`-encoded.
            sign: builds auth headers for each attempt from (method, full request path, body).
        """
        wire_path = self._base_path + path
        url = self._origin + wire_path + (f"?{urlencode(query)}" if query else "")
        attempt = 0
        while True:
            all_headers = {"Accept": "application/json", "User-Agent": self._user_agent}
            if content_type is not None:
                all_headers["Content-Type"] = content_type
            all_headers.update(headers or {})
            if sign is not None:
                all_headers.update(sign(method, wire_path, body or b""))
            error: FacegateClientError
            try:
                response = self._transport.send(HttpRequest(method, url, all_headers, body, self.timeout))
            except TransportError as exc:
                error = exc
                retryable = (idempotent or not exc.sent) and exc.code != "tls_error"
            else:
                if 200 <= response.status < 300:
                    return response
                error = error_from_response(
                    response.status,
                    response.body,
                    retry_after=response.headers.get("retry-after"),
                    reason=response.reason,
                )
                retryable = idempotent and (response.status == 429 or response.status >= 500)
            if not retryable or attempt >= self.retries:
                raise error
            delay = backoff_delay(attempt)
            if error.retry_after is not None:
                if error.retry_after > BACKOFF_CAP_S:
                    raise error
                delay = error.retry_after
            self._sleep(delay)
            attempt += 1

    def call(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
    ) -> HttpResponse:
        """Send a JSON body (or none) with the retry policy; return the 2xx response."""
        body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return self.request(
            method,
            path,
            query=query,
            body=body,
            content_type=None if body is None else "application/json",
            headers=headers,
            idempotent=idempotent,
        )


def load(model: type[M], response: HttpResponse) -> M:
    """Decode a 2xx response's JSON body into ``model``.

    Raises:
        UnexpectedResponseError: the body is not JSON or does not have the model's shape.
    """
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UnexpectedResponseError(response.status, "invalid_response", "the response body is not JSON") from None
    try:
        return model.from_json(data)
    except UnexpectedResponseError as exc:
        raise UnexpectedResponseError(response.status, exc.code, exc.message) from None

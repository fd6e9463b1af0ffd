"""Request bodies: size limits before work, content-type checks, image parts from multipart.

Image routes take either one raw image (``image/jpeg``, ``image/png``, ``image/webp``,
``image/heic``) or ``multipart/form-data`` with 1-3 parts of one name. Everything is checked
before any image is decoded, and the work per request is bounded: multipart bodies are split by a
linear scan for their boundary that stops at the part limit (a body of 87,500 empty parts costs the
same as one of four), and parts are never handed to a general MIME parser.

One content-type rule for both image routes: the declared type (of the body, or of each part) must
agree with the format its magic bytes announce, else 415 ``content_type_mismatch``;
``application/octet-stream`` parts are accepted with any image format.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from email.parser import BytesHeaderParser
from email.policy import HTTP

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.errors import ImageRejected, InvalidRequest, PayloadTooLarge, UnsupportedMediaType

IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp", "image/heic", "image/heif"})
MULTIPART = "multipart/form-data"
PART_TYPES = IMAGE_TYPES | {"application/octet-stream"}
FORMAT_OF_TYPE = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heif",
    "image/heif": "heif",
}
MAX_PART_HEADER_BYTES = 1024
"""A part's header block (Content-Disposition, Content-Type) is at most this long."""
MAX_STRAY_BOUNDARIES = 16
"""Occurrences of the boundary that do not start a line (tolerated inside content, up to this many)."""
_BOUNDARY = re.compile(r"""boundary=(?:"([0-9A-Za-z'()+_,./:=? -]{1,70})"|([0-9A-Za-z'()+_,./:=?-]{1,70}))(?:;|\s|$)""")


def raw_body(event: APIGatewayProxyEventV2, max_bytes: int) -> bytes:
    """The request body as bytes, refusing more than ``max_bytes`` before decoding it.

    Raises:
        PayloadTooLarge: the body exceeds ``max_bytes``.
        InvalidRequest: a base64 body that does not decode.
    """
    body = event.body or ""
    if event.is_base64_encoded:
        if len(body) > (max_bytes * 4) // 3 + 4:
            raise PayloadTooLarge(f"the body exceeds {max_bytes / 1e6:g} MB")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("the body is not valid base64") from exc
    else:
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes / 1e6:g} MB")
        data = body.encode("utf-8", "surrogateescape")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the body exceeds {max_bytes / 1e6:g} MB")
    return data


def media_type(content_type: str | None) -> str:
    """The lower-case media type of a Content-Type header, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_format(data: bytes) -> str | None:
    """The image format family (``jpeg``, ``png``, ``webp``, ``gif``, ``heif``) of ``data``'s magic bytes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:8] == b"ftyp":
        return "heif"
    return None


def check_declared_type(declared: str, data: bytes) -> None:
    """The one content-type rule of the image routes: a declared image type must match the sniffed format.

    Bytes that announce no known format are left to the decoder (``corrupt_image``).

    Raises:
        UnsupportedMediaType: ``content_type_mismatch``.
    """
    expected = FORMAT_OF_TYPE.get(declared)
    found = sniff_format(data)
    if expected is not None and found is not None and found != expected:
        raise UnsupportedMediaType(
            f"the content is {found} but was sent as {declared}; send the type that matches the image",
            code="content_type_mismatch",
        )


MAX_SELFIE_PARTS = 5
"""Selfies per enrollment request (the engine fuses 1-5; the page sends three, a fourth and fifth optional)."""
MAX_FRAME_PARTS = 3
"""Door frames per verify request (the engine fuses 1-3)."""


def image_parts(content_type: str | None, body: bytes, part_name: str, max_parts: int = MAX_FRAME_PARTS) -> list[bytes]:
    """Split an image upload into 1..``max_parts`` image byte strings.

    Raises:
        UnsupportedMediaType: the Content-Type (or a part's) is not an accepted image type, or does not
            match the image's format (``content_type_mismatch``).
        ImageRejected: ``empty_image`` for an empty body or part.
        InvalidRequest: malformed multipart, wrong part names or too many parts.
    """
    kind = media_type(content_type)
    if kind in IMAGE_TYPES:
        if not body:
            raise ImageRejected("the image is empty", code="empty_image")
        check_declared_type(kind, body)
        return [body]
    if kind != MULTIPART:
        raise UnsupportedMediaType(
            "send image/jpeg, image/png, image/webp, image/heic or multipart/form-data", code="unsupported_media_type"
        )
    if not body:
        raise ImageRejected("the upload is empty", code="empty_image")
    return _multipart_images(content_type or "", body, part_name, max_parts)


def multipart_boundary(content_type: str) -> bytes:
    """The boundary parameter of a ``multipart/form-data`` Content-Type (RFC 2046: 1-70 characters).

    Raises:
        InvalidRequest: no usable boundary.
    """
    if "\n" in content_type or "\r" in content_type:
        raise InvalidRequest("multipart/form-data needs a boundary")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise InvalidRequest("multipart/form-data needs a boundary")
    return (match.group(1) or match.group(2)).encode("ascii")


def _delimiters(body: bytes, delimiter: bytes, max_parts: int) -> list[int]:
    """Offsets of the delimiter lines, found by a scan that stops as soon as there are too many."""
    found: list[int] = []
    stray = 0
    start = 0
    while True:
        at = body.find(delimiter, start)
        if at < 0:
            return found
        if at == 0 or body[at - 1 : at] == b"\n":
            found.append(at)
            if len(found) > max_parts + 1:
                raise InvalidRequest(f"send 1 to {max_parts} parts", code="invalid_parts")
        else:
            stray += 1
            if stray > MAX_STRAY_BOUNDARIES:
                raise InvalidRequest("the multipart body is malformed")
        start = at + len(delimiter)


def _strip_line_end(segment: bytes, leading: bool) -> bytes | None:
    for ending in (b"\r\n", b"\n"):
        if leading and segment.startswith(ending):
            return segment[len(ending) :]
        if not leading and segment.endswith(ending):
            return segment[: -len(ending)]
    return None


def _multipart_images(content_type: str, body: bytes, part_name: str, max_parts: int) -> list[bytes]:
    delimiter = b"--" + multipart_boundary(content_type)
    offsets = _delimiters(body, delimiter, max_parts)
    if len(offsets) < 2 or not body[offsets[-1] + len(delimiter) :].startswith(b"--"):
        raise InvalidRequest("the multipart body is malformed")
    images: list[bytes] = []
    for begin, end in itertools.pairwise(offsets):
        segment = body[begin + len(delimiter) : end].lstrip(b" \t")
        inner = _strip_line_end(segment, leading=True)
        inner = None if inner is None else _strip_line_end(inner, leading=False)
        if inner is None:
            raise InvalidRequest("the multipart body is malformed")
        images.append(_part_image(inner, part_name))
    if not 1 <= len(images) <= max_parts:
        raise InvalidRequest(f"send 1 to {max_parts} parts named '{part_name}'", code="invalid_parts")
    return images


def _part_image(part: bytes, part_name: str) -> bytes:
    if part.startswith((b"\r\n", b"\n")):
        raise InvalidRequest(f"every part must be named '{part_name}'", code="invalid_parts")
    window = part[: MAX_PART_HEADER_BYTES + 4]
    crlf, lf = window.find(b"\r\n\r\n"), window.find(b"\n\n")
    head_end, separator = (crlf, 4) if crlf >= 0 and (lf < 0 or crlf < lf) else (lf, 2)
    if head_end < 0:
        raise InvalidRequest("a multipart part has malformed headers")
    headers = BytesHeaderParser(policy=HTTP).parsebytes(part[:head_end] + b"\r\n\r\n")
    if headers.defects or headers.get_param("name", header="content-disposition") != part_name:
        raise InvalidRequest(f"every part must be named '{part_name}'", code="invalid_parts")
    encoding = str(headers.get("content-transfer-encoding", "binary")).strip().lower()
    if encoding not in ("binary", "8bit", "7bit", "base64"):
        raise InvalidRequest("multipart parts must be sent as binary (or base64)", code="invalid_parts")
    declared = media_type(str(headers["content-type"])) if headers.get("content-type") else "application/octet-stream"
    if declared not in PART_TYPES:
        raise UnsupportedMediaType(f"part of type {declared} is not an accepted image type")
    payload = part[head_end + separator :]
    if encoding == "base64":
        try:
            payload = base64.b64decode(b"".join(payload.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("a base64 part does not decode", code="invalid_parts") from exc
    if not payload:
        raise ImageRejected("an image part is empty", code="empty_image")
    check_declared_type(declared, payload)
    return payload

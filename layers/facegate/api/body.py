"""Request bodies: size limits before work, content-type checks, image parts from multipart.

Image routes take either one raw image (``image/jpeg``, ``image/png``, ``image/webp``,
``image/heic``) or ``multipart/form-data`` with 1-3 parts of one name. Everything is checked
before any image is decoded.
"""

from __future__ import annotations

import base64
import binascii
from email import policy
from email.parser import BytesParser

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.errors import ImageRejected, InvalidRequest, PayloadTooLarge, UnsupportedMediaType

IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp", "image/heic", "image/heif"})
MULTIPART = "multipart/form-data"
PART_TYPES = IMAGE_TYPES | {"application/octet-stream"}


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
        data = body.encode("utf-8", "surrogateescape")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the body exceeds {max_bytes / 1e6:g} MB")
    return data


def media_type(content_type: str | None) -> str:
    """The lower-case media type of a Content-Type header, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def image_parts(content_type: str | None, body: bytes, part_name: str, max_parts: int = 3) -> list[bytes]:
    """Split an image upload into 1..``max_parts`` image byte strings.

    Raises:
        UnsupportedMediaType: the Content-Type (or a part's) is not an accepted image type.
        ImageRejected: ``empty_image`` for an empty body or part.
        InvalidRequest: malformed multipart, wrong part names or too many parts.
    """
    kind = media_type(content_type)
    if kind in IMAGE_TYPES:
        if not body:
            raise ImageRejected("the image is empty", code="empty_image")
        return [body]
    if kind != MULTIPART:
        raise UnsupportedMediaType(
            "send image/jpeg, image/png, image/webp, image/heic or multipart/form-data", code="unsupported_media_type"
        )
    if not body:
        raise ImageRejected("the upload is empty", code="empty_image")
    return _multipart_images(content_type or "", body, part_name, max_parts)


def _multipart_images(content_type: str, body: bytes, part_name: str, max_parts: int) -> list[bytes]:
    if "boundary=" not in content_type or "\n" in content_type or "\r" in content_type:
        raise InvalidRequest("multipart/form-data needs a boundary")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not message.is_multipart() or message.defects:
        raise InvalidRequest("the multipart body is malformed")
    parts = list(message.iter_parts())
    if not 1 <= len(parts) <= max_parts:
        raise InvalidRequest(f"send 1 to {max_parts} parts named '{part_name}'", code="invalid_parts")
    images: list[bytes] = []
    for part in parts:
        if part.get_param("name", header="content-disposition") != part_name:
            raise InvalidRequest(f"every part must be named '{part_name}'", code="invalid_parts")
        declared = media_type(part.get_content_type()) if part.get("content-type") else "application/octet-stream"
        if declared not in PART_TYPES:
            raise UnsupportedMediaType(f"part of type {declared} is not an accepted image type")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            raise ImageRejected("an image part is empty", code="empty_image")
        images.append(payload)
    return images

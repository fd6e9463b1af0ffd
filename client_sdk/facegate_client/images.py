"""Image preparation before upload: content-type sniffing, EXIF orientation, downscaling.

The API accepts JPEG, PNG, WebP and HEIC, at most 5 MB per request. Phones produce 12-50 MP photos;
the face engine needs far less, so images whose longest side exceeds 1280 px are decoded, turned
upright (EXIF orientation), downscaled to 1280 px and re-encoded as JPEG quality 90 (which also drops
their metadata, GPS included). Small JPEG/PNG/WebP bytes without EXIF/XMP metadata go out untouched;
small images that carry metadata are re-encoded too, so a photo's location never leaves the device.
HEIC always goes out untouched (Pillow cannot decode it without a plugin; the server can). PIL images
are always encoded as JPEG.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias, cast

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "JPEG_QUALITY",
    "MAX_FRAMES",
    "MAX_IMAGES",
    "MAX_SIDE_PX",
    "ImageInput",
    "ImageInputError",
    "PreparedImage",
    "detect_content_type",
    "prepare_image",
    "prepare_images",
]

MAX_SIDE_PX = 1280
"""Longest side, in pixels, above which an image is downscaled before upload."""

MAX_IMAGES = 5
"""Images per request: selfies 1-5 (the server's limit); door frames are limited to 1-3 by :data:`MAX_FRAMES`."""
MAX_FRAMES = 3
"""Most images (selfies or door frames) accepted in one request."""

JPEG_QUALITY = 90
"""JPEG quality (1-95, Pillow scale) used when an image is re-encoded."""

ImageInput: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image
"""An image as encoded bytes, a file path, or a PIL image."""

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_MAGIC: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("image/jpeg", ((0, b"\xff\xd8\xff"),)),
    ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("image/webp", ((0, b"RIFF"), (8, b"WEBP"))),
)
"""Content type -> the bytes its files hold at these offsets (HEIF/HEIC, told by its brands, apart)."""
_PASS_THROUGH = frozenset({"image/jpeg", "image/png", "image/webp"})
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}


class ImageInputError(ValueError):
    """The input is not an image this client can send (empty, unknown format, undecodable)."""


@dataclasses.dataclass(frozen=True)
class PreparedImage:
    """An image ready for upload.

    Attributes:
        data: the encoded bytes to send.
        content_type: ``image/jpeg``, ``image/png``, ``image/webp`` or ``image/heic``.
        width, height: pixel size of ``data`` (None for HEIC, which is not decoded).
        reencoded: True when ``data`` was produced here (downscaled or converted), False when passed through.
    """

    data: bytes = dataclasses.field(repr=False)
    content_type: str
    width: int | None
    height: int | None
    reencoded: bool

    @property
    def filename(self) -> str:
        """A neutral file name for multipart uploads (``image.jpg``, ``image.heic``, ...)."""
        return f"image.{EXTENSIONS.get(self.content_type, 'bin')}"


def detect_content_type(data: bytes) -> str | None:
    """Identify an image format from its magic bytes.

    Args:
        data: the start of the file (16 bytes are enough).

    Returns:
        ``image/jpeg``, ``image/png``, ``image/webp``, ``image/heic`` (HEIF/HEIC, not AVIF), or None.
    """
    head = bytes(data[:32])
    for content_type, marks in _MAGIC:
        if all(head[offset : offset + len(mark)] == mark for offset, mark in marks):
            return content_type
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        box_size = int.from_bytes(bytes(data[:4]), "big")
        compatible = bytes(data[16 : max(16, min(box_size, 256))])
        brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
        if head[8:12] in (b"mif1", b"msf1") and b"avif" in brands:
            return None
        return "image/heic"
    return None


def prepare_image(image: ImageInput, *, max_side: int = MAX_SIDE_PX, quality: int = JPEG_QUALITY) -> PreparedImage:
    """Turn bytes, a path or a PIL image into upload-ready bytes and a content type.

    Args:
        image: encoded bytes, a path (``str`` or ``os.PathLike``) to an image file, or a PIL image.
        max_side: longest side in pixels above which the image is downscaled (aspect ratio kept).
        quality: JPEG quality (1-95) for re-encoded images.

    Returns:
        The prepared image; see the module docstring for when bytes pass through untouched.

    Raises:
        ImageInputError: empty input, an unknown format, or bytes Pillow cannot decode.
        OSError: the path cannot be read.
        TypeError: an unsupported input type.
    """
    if isinstance(image, Image.Image):
        return _encode(image, max_side, quality, draft=False)
    if isinstance(image, str | os.PathLike):
        data = Path(image).read_bytes()
    elif isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    else:
        raise TypeError(f"expected bytes, a path or a PIL image, got {type(image).__name__}")
    if not data:
        raise ImageInputError("the image is empty")
    content_type = detect_content_type(data)
    if content_type == "image/heic":
        return PreparedImage(data, content_type, None, None, reencoded=False)
    try:
        opened = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"not a decodable image: {exc}") from None
    with opened:
        width, height = opened.size
        carries_metadata = bool(opened.getexif()) or any(key in opened.info for key in ("xmp", "XML:com.adobe.xmp"))
        if content_type in _PASS_THROUGH and max(width, height) <= max_side and not carries_metadata:
            return PreparedImage(data, content_type, width, height, reencoded=False)
        return _encode(opened, max_side, quality, draft=True)


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(image: Image.Image, max_side: int, quality: int, *, draft: bool) -> PreparedImage:
    try:
        if draft and image.format == "JPEG":
            image.draft("RGB", _target_size(*image.size, max_side))
        upright = ImageOps.exif_transpose(image)
        rgb = _to_rgb(upright)
        size = _target_size(*rgb.size, max_side)
        if size != rgb.size:
            rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=quality)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"the image could not be decoded: {exc}") from None
    return PreparedImage(out.getvalue(), "image/jpeg", rgb.width, rgb.height, reencoded=True)


def _to_rgb(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def prepare_images(images: ImageInput | Sequence[ImageInput], limit: int = MAX_IMAGES) -> list[PreparedImage]:
    """Prepare one image or a sequence of 1 to ``limit`` for upload (selfies: up to 5; frames: up to 3).

    Raises:
        ValueError: an empty sequence or more than ``limit``.
    """
    items: Sequence[ImageInput] = images if isinstance(images, list | tuple) else [cast(ImageInput, images)]
    if not 1 <= len(items) <= limit:
        raise ValueError(f"send 1 to {limit} images, got {len(items)}")
    return [prepare_image(item) for item in items]

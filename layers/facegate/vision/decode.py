"""Safe decoding of untrusted image bytes into an upright RGB working image.

Every image that reaches the face engine (phone selfies, door-terminal crops) goes through
:func:`decode_image`. Its contract: for any input bytes it returns a :class:`DecodedImage` or
raises a :class:`~facegate.errors.FacegateError` with a stable code; nothing else escapes, and
memory stays bounded because every limit is checked before the pixels are decoded.

Order of the checks:

1. ``empty_image`` for no bytes; :class:`~facegate.errors.PayloadTooLarge` above ``max_bytes``.
2. The format is sniffed from the leading magic bytes (never from a file name or a client's
   Content-Type) and Pillow is told to use that one decoder only, so a polyglot file is decoded
   as what its first bytes say it is. Accepted: JPEG (including MPO, first picture), PNG
   (APNG: default image), WebP (animated: first frame), GIF (first frame), HEIF/HEIC (primary
   image). Everything else is ``unsupported_image_format``: TIFF, BMP, PSD, ICO, AVIF, JPEG 2000,
   JPEG XL, PDF, SVG, text. BMP is refused on purpose: no phone or door terminal produces it,
   it is uncompressed (so 5 MiB holds little) and its RLE variants only widen the attack surface.
   Base64 text is refused too (the HTTP layer decodes base64 bodies; decoding twice here would
   blur which layer enforces ``max_bytes``).
3. The header's canvas size is checked against ``max_side`` and ``max_pixels`` (or the lower
   ``max_full_decode_pixels`` for formats other than JPEG) right after ``Image.open``, which
   reads headers only (``image_too_large``); Pillow's global
   ``Image.MAX_IMAGE_PIXELS`` is not relied on, and its ``DecompressionBombError`` and
   warnings are turned into ``image_too_large`` or silenced.
4. Large JPEGs are decoded at a reduced DCT scale (``draft``), then every image larger than
   ``working_max_side`` is resized with an antialiasing filter.
5. Truncated or undecodable pixel data is ``corrupt_image``: a truncated JPEG is refused rather
   than accepted as a half-grey picture (this relies on Pillow's default
   ``ImageFile.LOAD_TRUNCATED_IMAGES = False``, which facegate never changes).
6. Colour: alpha is composited over neutral grey, 16-bit samples keep their 8 high bits,
   palette, greyscale, CMYK and YCbCr become RGB. ICC profiles are not applied.
7. EXIF orientation (1-8) is applied last; HEIF images come upright from libheif.

Peak memory (measured with Pillow 13, pillow-heif 1.8; resident memory above the caller's):
JPEGs are decoded at a reduced DCT scale, about 31 MB for a 40 Mpx baseline JPEG and 124 MB
for a progressive one (its coefficients are buffered at full size). The other formats decode
the whole canvas, so they get the lower ``max_full_decode_pixels`` limit; at 24 Mpx the peaks
are PNG 125 MB, GIF 148 MB, HEIC 170 MB and WebP 366 MB (Pillow's WebP decoder holds three
copies of an RGBA canvas).
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from PIL import Image

from facegate.errors import FacegateError, ImageRejected, PayloadTooLarge
from facegate.vision.types import ImageArray

JPEG: Final = "JPEG"
PNG: Final = "PNG"
WEBP: Final = "WEBP"
GIF: Final = "GIF"
HEIF: Final = "HEIF"

SUPPORTED_FORMATS: Final = frozenset({JPEG, PNG, WEBP, GIF, HEIF})
"""Every format :func:`decode_image` can decode (names as in :attr:`DecodedImage.format`)."""

NEUTRAL_BACKGROUND: Final = (128, 128, 128)
"""RGB colour that transparent pixels are composited onto."""

_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS: Final = frozenset({b"mif1", b"msf1", b"mif2"})
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_PLAIN_MODES: Final = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"})
_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSES: Final = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}

_heif_lock = threading.Lock()
_heif_registered = False


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Limits applied to untrusted image bytes before and while decoding.

    Attributes:
        max_bytes: largest accepted input, bytes (default 5 MiB).
        max_pixels: largest accepted canvas, width x height in pixels (default 40 M).
        max_full_decode_pixels: largest accepted canvas of the formats that cannot be decoded
            at a reduced scale, i.e. all but JPEG (default 24 M: a 24 Mpx iPhone HEIC passes).
        max_side: largest accepted width or height, pixels (default 12000).
        working_max_side: images whose longer side exceeds this are downscaled while decoding
            (pixels, default 1600); the detector works on the downscaled image.
        formats: accepted formats, a subset of :data:`SUPPORTED_FORMATS`.
    """

    max_bytes: int = 5 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_full_decode_pixels: int = 24_000_000
    max_side: int = 12_000
    working_max_side: int = 1600
    formats: frozenset[str] = field(default=SUPPORTED_FORMATS)

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.max_full_decode_pixels, self.max_side, self.working_max_side) < 1:
            raise ValueError("decode limits must be positive")
        if not self.formats <= SUPPORTED_FORMATS:
            raise ValueError(f"unknown formats: {sorted(self.formats - SUPPORTED_FORMATS)}")


DEFAULT_LIMITS: Final = DecodeLimits()


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright RGB working image and how it relates to the original.

    Attributes:
        rgb: uint8 array (height, width, 3), EXIF-upright, longer side at most
            ``working_max_side``.
        original_size: (width, height) of the full-resolution image after EXIF orientation.
        scale: working pixels per original pixel, in (0, 1]; original = working / scale.
        format: one of :data:`SUPPORTED_FORMATS`.
    """

    rgb: ImageArray
    original_size: tuple[int, int]
    scale: float
    format: str


def sniff_format(data: bytes) -> str | None:
    """The supported format that ``data``'s leading magic bytes announce, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[4:8] == b"ftyp" and _is_heif_ftyp(data):
        return HEIF
    return None


def _is_heif_ftyp(data: bytes) -> bool:
    """True for an ISO-BMFF ``ftyp`` box that names an HEVC-coded HEIF brand (not AVIF)."""
    box_size = int.from_bytes(data[:4], "big")
    if box_size < 16 or box_size > len(data) or box_size > 4096:
        return False
    brands = {data[8:12]} | {data[offset : offset + 4] for offset in range(16, box_size - 3, 4)}
    return bool(brands & _HEIF_BRANDS) or (data[8:12] in _HEIF_GENERIC_BRANDS and b"avif" not in brands)


def _ensure_heif_opener() -> None:
    """Register pillow-heif's Pillow plugin, once per process, on first HEIF input."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
            _heif_registered = True


def decode_image(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode untrusted image bytes into an upright RGB working image.

    Args:
        data: the raw image file (not base64).
        limits: size, pixel and format limits.

    Returns:
        The decoded image; its longer side is at most ``limits.working_max_side``.

    Raises:
        PayloadTooLarge: more than ``limits.max_bytes`` bytes (code ``payload_too_large``).
        ImageRejected: code ``empty_image``, ``unsupported_image_format``, ``image_too_large``
            (canvas over ``max_side`` or ``max_pixels``) or ``corrupt_image``.
    """
    if not data:
        raise ImageRejected("the image is empty", code="empty_image")
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"the image is larger than {limits.max_bytes} bytes")
    image_format = sniff_format(data)
    if image_format is None or image_format not in limits.formats:
        raise ImageRejected("this image format is not accepted", code="unsupported_image_format")
    if image_format == HEIF:
        _ensure_heif_opener()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _decode(data, image_format, limits)
    except FacegateError:
        raise
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ImageRejected("the image has too many pixels", code="image_too_large") from exc
    except Exception as exc:  # the decoders' failure modes are open-ended; all of them mean "corrupt"
        raise ImageRejected("the image could not be decoded", code="corrupt_image") from exc


def _decode(data: bytes, image_format: str, limits: DecodeLimits) -> DecodedImage:
    with Image.open(io.BytesIO(data), formats=(image_format,)) as image:
        opened_as = JPEG if image.format == "MPO" else image.format
        if opened_as != image_format:
            raise ImageRejected("the image could not be decoded", code="corrupt_image")
        width, height = image.size
        _check_canvas(width, height, image_format, limits)
        if image.mode not in _ALPHA_MODES | _HIGH_BIT_MODES | _PLAIN_MODES:
            raise ImageRejected("this image's pixel format is not accepted", code="unsupported_image_format")

        scale = min(1.0, limits.working_max_side / max(width, height))
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        if image_format == JPEG and scale < 1.0:
            image.draft("RGB", target)
        image.load()
        orientation = _orientation(image)
        working = _resizable(image)
    if working.size != target:
        working = working.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    working = _to_rgb(working)
    for transpose in _TRANSPOSES.get(orientation, ()):
        working = working.transpose(transpose)
    rgb = np.asarray(working, dtype=np.uint8).copy()
    original_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return DecodedImage(rgb=rgb, original_size=original_size, scale=scale, format=image_format)


def _check_canvas(width: int, height: int, image_format: str, limits: DecodeLimits) -> None:
    if width < 1 or height < 1:
        raise ImageRejected("the image could not be decoded", code="corrupt_image")
    pixel_limit = limits.max_pixels if image_format == JPEG else min(limits.max_pixels, limits.max_full_decode_pixels)
    if max(width, height) > limits.max_side or width * height > pixel_limit:
        raise ImageRejected("the image has too many pixels", code="image_too_large")


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1-8 of a loaded image; 1 when absent, unreadable or out of range."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not refuse a decodable picture
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _resizable(image: Image.Image) -> Image.Image:
    """The loaded image in a mode that resamples correctly, converting at full size only when needed.

    Palette and 1-bit images can only be resized with nearest-neighbour sampling, and 16-bit
    greyscale is reduced to its 8 high bits here (not clipped, as Pillow's own conversion does).
    Other modes are returned as they are, without a copy; RGBA is resampled with premultiplied
    alpha by Pillow, so alpha is composited after the (cheaper) downscale.
    """
    if image.mode in _HIGH_BIT_MODES:
        samples = np.asarray(image)
        high = np.right_shift(samples, 8) if samples.dtype.itemsize == 2 else np.clip(samples >> 8, 0, 255)
        return Image.fromarray(high.astype(np.uint8), "L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "PA":
        return image.convert("RGBA")
    if image.mode == "1":
        return image.convert("L")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """An RGB version of a resizable image, alpha composited over :data:`NEUTRAL_BACKGROUND`."""
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*NEUTRAL_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")

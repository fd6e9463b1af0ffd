"""decode_image against a hostile corpus generated here (no files from ../shared)."""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from facegate.errors import FacegateError, ImageRejected, PayloadTooLarge
from facegate.vision.decode import (
    NEUTRAL_BACKGROUND,
    SUPPORTED_FORMATS,
    DecodedImage,
    DecodeLimits,
    decode_image,
    sniff_format,
)
from helpers import peak_rss_bytes, reset_peak_rss, rss_bytes

MIB = 1024 * 1024


# ---------------------------------------------------------------- corpus builders


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def blocks_image(width: int = 64, height: int = 48, block: int = 16) -> np.ndarray:
    """Flat colour blocks, all different, so any flip or rotation changes the picture."""
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, size=(height // block, width // block, 3), dtype=np.uint8)
    return np.repeat(np.repeat(colours, block, axis=0), block, axis=1)


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(width: int, height: int, idat: bytes, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A PNG built by hand, so the header can declare anything."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid greyscale PNG of ``width x height`` zeros: a few kB for a huge canvas."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_file(width, height, idat)


def jpeg_with_declared_size(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 header is patched to declare ``width x height``."""
    data = bytearray(encode(noise_image(32, 32), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_with_declared_size(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (16, 16), 3), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def jpeg_with_orientation(raw: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(raw), "JPEG", quality=95, exif=exif.tobytes())


def expected_upright(raw: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF 2.32 orientation semantics, written with numpy as an independent oracle."""
    transforms: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirror horizontal
        3: lambda a: a[::-1, ::-1],  # rotate 180
        4: lambda a: a[::-1, :],  # mirror vertical
        5: lambda a: np.rot90(a[:, ::-1], 1),  # mirror horizontal, rotate 270 CW
        6: lambda a: np.rot90(a, -1),  # rotate 90 CW
        7: lambda a: np.rot90(a[:, ::-1], -1),  # mirror horizontal, rotate 90 CW
        8: lambda a: np.rot90(a, 1),  # rotate 270 CW
    }
    return transforms[orientation](raw)


def heic_bytes(image: Image.Image) -> bytes:
    import pillow_heif

    heif = pillow_heif.from_pillow(image)
    buffer = io.BytesIO()
    heif.save(buffer, quality=90)
    return buffer.getvalue()


DEFAULT_LIMITS = DecodeLimits()


def assert_valid(decoded: DecodedImage, limits: DecodeLimits = DEFAULT_LIMITS) -> None:
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.ndim == 3
    assert decoded.rgb.shape[2] == 3
    assert max(decoded.rgb.shape[:2]) <= limits.working_max_side
    assert min(decoded.original_size) >= 1
    assert 0.0 < decoded.scale <= 1.0
    assert decoded.format in SUPPORTED_FORMATS


def rejected_code(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(FacegateError) as caught:
        decode_image(data, limits)
    return caught.value.code


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every pixel decode (ImageFile.load) that happens during a test."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(str(self.format))
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


# ---------------------------------------------------------------- size and format gates


def test_empty_bytes_are_empty_image() -> None:
    # Given no bytes / When decoded / Then empty_image
    assert rejected_code(b"") == "empty_image"


def test_input_over_max_bytes_is_payload_too_large() -> None:
    # Given 6 MB that start like a JPEG
    data = b"\xff\xd8\xff" + bytes(6 * MIB)
    # When decoded / Then PayloadTooLarge, before anything is parsed
    with pytest.raises(PayloadTooLarge):
        decode_image(data)


def test_max_bytes_is_inclusive() -> None:
    # Given a valid JPEG and a byte limit equal to its size
    data = encode(noise_image(40, 30), "JPEG")
    # When decoded with that limit / Then it is accepted
    assert_valid(decode_image(data, DecodeLimits(max_bytes=len(data))))
    # And one byte less refuses it
    with pytest.raises(PayloadTooLarge):
        decode_image(data, DecodeLimits(max_bytes=len(data) - 1))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"hello, this is not an image\n" * 20, id="plain-text"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", id="svg"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", id="pdf"),
        pytest.param(b"8BPS\x00\x01" + bytes(40), id="psd"),
        pytest.param(b"\x00\x00\x01\x00\x01\x00" + bytes(40), id="ico"),
        pytest.param(b"\xff\x0a" + bytes(40), id="jpeg-xl-codestream"),
        pytest.param(bytes(64), id="zeros"),
    ],
)
def test_non_image_bytes_are_unsupported_format(data: bytes) -> None:
    # Given bytes that no accepted format starts with / When decoded / Then unsupported_image_format
    assert rejected_code(data) == "unsupported_image_format"


@pytest.mark.parametrize("image_format", ["TIFF", "BMP", "PPM", "TGA", "PCX", "JPEG2000", "ICO", "QOI"])
def test_other_pillow_formats_are_unsupported(image_format: str) -> None:
    # Given a valid image in a format Pillow can decode but facegate does not accept
    data = encode(noise_image(32, 32), image_format)
    # When decoded / Then unsupported_image_format (Pillow's own plugin never runs)
    assert rejected_code(data) == "unsupported_image_format"


def test_avif_is_unsupported() -> None:
    # Given an AVIF file (ISO-BMFF like HEIF, but AV1-coded)
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow build cannot write AVIF")
    data = encode(noise_image(32, 32), "AVIF")
    # When decoded / Then it is refused, not handed to the HEIF plugin
    assert sniff_format(data) is None
    assert rejected_code(data) == "unsupported_image_format"


def test_base64_text_of_a_valid_jpeg_is_refused() -> None:
    # Given a valid JPEG, base64-encoded (a client that forgot to decode its body)
    data = base64.b64encode(encode(noise_image(32, 32), "JPEG"))
    # When decoded / Then it is refused: decode_image takes raw bytes only
    assert rejected_code(data) == "unsupported_image_format"


def test_format_can_be_disabled_by_limits() -> None:
    # Given a valid GIF and limits that accept JPEG and PNG only
    data = encode(noise_image(32, 32).convert("P"), "GIF")
    limits = DecodeLimits(formats=frozenset({"JPEG", "PNG"}))
    # When decoded / Then unsupported_image_format
    assert rejected_code(data, limits) == "unsupported_image_format"


def test_unknown_format_names_in_limits_are_a_programming_error() -> None:
    # Given a format facegate cannot decode / When limits are built / Then ValueError
    with pytest.raises(ValueError, match="unknown formats"):
        DecodeLimits(formats=frozenset({"TIFF"}))


# ---------------------------------------------------------------- pixel limits, bombs, giant headers


def test_png_header_declaring_100000_squared_is_refused_before_decoding(load_calls: list[str]) -> None:
    # Given a 100-byte PNG whose header declares 100000 x 100000 pixels
    data = png_file(100_000, 100_000, zlib.compress(b"\x00" * 100))
    # When decoded
    code = rejected_code(data)
    # Then image_too_large, and no pixel decode was started
    assert code == "image_too_large"
    assert load_calls == []


def test_decompression_bomb_png_is_refused_before_decoding(load_calls: list[str]) -> None:
    # Given a complete, valid 7000 x 6000 PNG (42 Mpx, above the 40 Mpx limit but below
    # Pillow's own warning threshold) that is only a few kB
    data = png_bomb(7000, 6000)
    assert len(data) < 100_000
    # When decoded / Then image_too_large without any pixel decode
    assert rejected_code(data) == "image_too_large"
    assert load_calls == []


def test_pixel_limit_does_not_rely_on_pillows_global(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Pillow's global bomb protection switched off by someone else
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    # When a 42 Mpx bomb is decoded / Then facegate's own limit still refuses it
    assert rejected_code(png_bomb(7000, 6000)) == "image_too_large"


def test_pillows_bomb_warning_never_escapes() -> None:
    # Given a JPEG header of 99 Mpx (above Pillow's warning threshold, below its error threshold)
    data = jpeg_with_declared_size(11_000, 9_000)
    # When decoded with every warning turned into an error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = rejected_code(data)
    # Then the outcome is facegate's own typed error, not Pillow's DecompressionBombWarning
    assert code == "image_too_large"


def test_pillows_bomb_error_becomes_image_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Pillow's global limit set below facegate's (so Pillow raises first)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    # When a 3 Mpx image is decoded / Then Pillow's DecompressionBombError is translated
    assert rejected_code(jpeg_with_declared_size(2000, 1500)) == "image_too_large"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (jpeg_with_declared_size(60_000, 60_000), "JPEG over every limit"),
        (jpeg_with_declared_size(11_000, 11_000), "JPEG under max_side, 121 Mpx"),
        (jpeg_with_declared_size(12_001, 16), "JPEG with one side over max_side"),
        (gif_with_declared_size(65_535, 65_535), "GIF logical screen of 4.3 Gpx"),
        (gif_with_declared_size(12_000, 12_000), "GIF of 144 Mpx"),
        (png_file(16, 20_000, zlib.compress(b"")), "PNG 20000 px tall"),
    ],
)
def test_giant_headers_are_image_too_large(data: bytes, why: str) -> None:
    # Given a small file whose header declares too many pixels / When decoded / Then image_too_large
    assert rejected_code(data) == "image_too_large", why


def test_formats_without_reduced_decoding_have_a_lower_pixel_limit(load_calls: list[str]) -> None:
    # Given a valid 5000 x 5000 PNG (25 Mpx: under max_pixels, over max_full_decode_pixels)
    data = png_bomb(5000, 5000)
    # When decoded / Then image_too_large, before any pixel is decoded
    assert rejected_code(data) == "image_too_large"
    assert load_calls == []


def test_large_jpeg_under_max_pixels_is_decoded_at_reduced_scale() -> None:
    # Given a valid 30 Mpx JPEG (JPEG is decoded at a reduced DCT scale, so max_pixels applies)
    data = encode(Image.new("RGB", (6400, 4700), (40, 160, 90)), "JPEG", quality=80)
    # When decoded
    decoded = decode_image(data)
    # Then it is accepted and downscaled to the working size
    assert decoded.rgb.shape == (1175, 1600, 3)
    assert decoded.original_size == (6400, 4700)
    assert np.abs(decoded.rgb.astype(int) - (40, 160, 90)).max() <= 3


def test_limits_are_configurable() -> None:
    # Given a valid 100 x 80 PNG
    data = encode(noise_image(100, 80), "PNG")
    # When decoded with max_pixels just below and at its size / Then refused, then accepted
    assert rejected_code(data, DecodeLimits(max_pixels=7999)) == "image_too_large"
    assert rejected_code(data, DecodeLimits(max_side=99)) == "image_too_large"
    assert_valid(decode_image(data, DecodeLimits(max_pixels=8000, max_side=100)))


def test_png_declaring_zero_width_is_corrupt() -> None:
    # Given a PNG header with width 0 / When decoded / Then corrupt_image
    assert rejected_code(png_file(0, 10, zlib.compress(b""))) == "corrupt_image"


# ---------------------------------------------------------------- corrupt and truncated data


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("keep", [0.95, 0.5, 0.1])
def test_truncated_jpeg_is_corrupt_not_half_grey(progressive: bool, keep: float) -> None:
    # Given a valid JPEG cut short (design decision: never accept a partly grey picture)
    data = encode(noise_image(400, 300), "JPEG", quality=90, progressive=progressive)
    truncated = data[: int(len(data) * keep)]
    # When decoded / Then corrupt_image
    assert rejected_code(truncated) == "corrupt_image"


def test_jpeg_missing_only_its_end_marker_is_corrupt() -> None:
    # Given a JPEG without its final EOI marker
    data = encode(noise_image(200, 150), "JPEG")
    # When decoded / Then corrupt_image (the decoder reports the truncation)
    assert rejected_code(data[:-2]) == "corrupt_image"


@pytest.mark.parametrize("image_format", ["PNG", "GIF", "WEBP"])
def test_truncated_lossless_images_are_corrupt(image_format: str) -> None:
    # Given a valid image cut in half / When decoded / Then corrupt_image
    image = noise_image(200, 150)
    data = encode(image.convert("P") if image_format == "GIF" else image, image_format)
    assert rejected_code(data[: len(data) // 2]) == "corrupt_image"


def test_jpeg_magic_followed_by_garbage_is_corrupt() -> None:
    # Given the JPEG magic and then random bytes / When decoded / Then corrupt_image
    rng = np.random.default_rng(3)
    data = b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert rejected_code(data) == "corrupt_image"


def test_png_with_bad_chunk_crc_is_corrupt() -> None:
    # Given a valid PNG with one bit flipped inside the IHDR chunk
    data = bytearray(encode(noise_image(32, 32), "PNG"))
    data[20] ^= 0x01
    # When decoded / Then corrupt_image
    assert rejected_code(bytes(data)) == "corrupt_image"


# ---------------------------------------------------------------- polyglots


def test_jpeg_with_appended_zip_decodes_as_the_jpeg() -> None:
    # Given a JPEG followed by a ZIP archive (a classic polyglot)
    image = Image.new("RGB", (64, 48), (200, 30, 40))
    zip_buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zip_buffer, "w") as archive:
        archive.writestr("payload.txt", "hello")
    data = encode(image, "JPEG", quality=95) + zip_buffer.getvalue()
    # When decoded / Then the picture is the JPEG's
    decoded = decode_image(data)
    assert decoded.format == "JPEG"
    assert np.abs(decoded.rgb.astype(int) - (200, 30, 40)).max() < 8


def test_file_with_png_body_behind_a_gif_signature_is_corrupt() -> None:
    # Given "GIF89a" glued in front of a valid PNG
    data = b"GIF89a" + encode(noise_image(32, 32), "PNG")
    # When decoded / Then only the GIF decoder is tried, and it fails: corrupt_image
    assert sniff_format(data) == "GIF"
    assert rejected_code(data) == "corrupt_image"


def test_jpeg_signature_with_png_body_is_corrupt() -> None:
    # Given a JPEG signature whose body is a PNG
    data = b"\xff\xd8\xff" + encode(noise_image(32, 32), "PNG")
    # When decoded / Then the PNG decoder is never tried: corrupt_image
    assert rejected_code(data) == "corrupt_image"


def test_html_wrapping_an_image_is_refused() -> None:
    # Given HTML with a JPEG embedded after the markup
    data = b"<html><script>alert(1)</script>" + encode(noise_image(32, 32), "JPEG")
    # When decoded / Then unsupported_image_format (magic bytes must be at offset 0)
    assert rejected_code(data) == "unsupported_image_format"


# ---------------------------------------------------------------- formats and pixel modes


@pytest.mark.parametrize(
    ("image_format", "options", "tolerance"),
    [
        ("JPEG", {"quality": 95}, 6),
        ("PNG", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 12),
    ],
)
def test_common_formats_decode_to_the_same_picture(
    image_format: str, options: dict[str, object], tolerance: int
) -> None:
    # Given a flat-block picture saved in a supported format
    raw = blocks_image()
    data = encode(Image.fromarray(raw), image_format, **options)
    # When decoded
    decoded = decode_image(data)
    # Then the pixels match within the codec's loss, at full scale
    assert decoded.format == image_format
    assert decoded.original_size == (64, 48)
    assert decoded.scale == 1.0
    assert decoded.rgb.flags.c_contiguous
    assert np.abs(decoded.rgb.astype(int) - raw).mean() <= max(tolerance, 0.0) + 0.5


def test_greyscale_jpeg_becomes_equal_rgb_channels() -> None:
    # Given a greyscale JPEG
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))
    decoded = decode_image(encode(Image.fromarray(grey, "L"), "JPEG", quality=95))
    # Then the three channels are equal and follow the ramp
    assert np.array_equal(decoded.rgb[..., 0], decoded.rgb[..., 1])
    assert np.array_equal(decoded.rgb[..., 1], decoded.rgb[..., 2])
    assert np.abs(decoded.rgb[..., 0].astype(int) - grey).mean() < 3


def test_cmyk_jpeg_keeps_its_colours() -> None:
    # Given an RGB picture stored as a CMYK JPEG (as print workflows produce)
    raw = blocks_image()
    data = encode(Image.fromarray(raw).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    # When decoded / Then it comes back as RGB close to the original colours
    decoded = decode_image(data)
    assert decoded.rgb.shape == (48, 64, 3)
    assert np.abs(decoded.rgb.astype(int) - raw).mean() < 6


def test_16_bit_greyscale_png_keeps_the_high_byte() -> None:
    # Given a 16-bit greyscale PNG (mode I;16) spanning 0-65535
    samples = np.linspace(0, 65535, 64 * 16).astype(np.uint16).reshape(16, 64)
    data = encode(Image.fromarray(samples), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    # When decoded / Then each channel is the high byte (not clipped to white)
    decoded = decode_image(data)
    assert np.array_equal(decoded.rgb[..., 0], (samples >> 8).astype(np.uint8))
    assert np.array_equal(decoded.rgb[..., 2], (samples >> 8).astype(np.uint8))


def test_16_bit_rgb_png_keeps_the_high_byte() -> None:
    # Given a hand-built 16-bit RGB PNG (colour type 2, bit depth 16)
    rng = np.random.default_rng(5)
    samples = rng.integers(0, 65536, size=(12, 10, 3), dtype=np.uint16)
    rows = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(12))
    data = png_file(10, 12, zlib.compress(rows), bit_depth=16, colour_type=2)
    # When decoded / Then the colours are the high bytes
    decoded = decode_image(data)
    assert np.array_equal(decoded.rgb, (samples >> 8).astype(np.uint8))


def test_16_bit_rgba_png_is_composited() -> None:
    # Given a 16-bit RGBA PNG: left half opaque white, right half fully transparent
    samples = np.zeros((4, 4, 4), dtype=np.uint16)
    samples[:, :2] = 65535
    samples[:, 2:, :3] = 65535
    rows = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(4))
    data = png_file(4, 4, zlib.compress(rows), bit_depth=16, colour_type=6)
    # When decoded
    decoded = decode_image(data)
    # Then opaque stays white and transparent becomes the neutral background
    assert (decoded.rgb[:, :2] == 255).all()
    assert (decoded.rgb[:, 2:] == NEUTRAL_BACKGROUND).all()


def test_rgba_png_is_composited_on_neutral_grey() -> None:
    # Given an RGBA picture: opaque red, fully transparent red, half-transparent white
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[:, 0] = (255, 0, 0, 255)
    rgba[:, 1] = (255, 0, 0, 0)
    rgba[:, 2] = (255, 255, 255, 128)
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    # Then opaque pixels keep their colour, transparent ones become grey, others blend
    assert tuple(decoded.rgb[0, 0]) == (255, 0, 0)
    assert tuple(decoded.rgb[0, 1]) == NEUTRAL_BACKGROUND
    assert np.abs(decoded.rgb[0, 2].astype(int) - 191).max() <= 1


def test_downscaled_rgba_does_not_bleed_hidden_colours() -> None:
    # Given a 3200 x 64 RGBA PNG: left half fully transparent but coloured red, right half opaque blue
    rgba = np.zeros((64, 3200, 4), dtype=np.uint8)
    rgba[:, :1600] = (255, 0, 0, 0)
    rgba[:, 1600:] = (0, 0, 255, 255)
    data = encode(Image.fromarray(rgba, "RGBA"), "PNG")
    # When decoded at half size
    decoded = decode_image(data)
    assert decoded.rgb.shape == (32, 1600, 3)
    # Then the left half is the neutral background and no hidden red shows at the seam
    assert (decoded.rgb[:, :790] == NEUTRAL_BACKGROUND).all()
    assert (decoded.rgb[..., 0].astype(int) <= NEUTRAL_BACKGROUND[0] + 1).all()


def test_la_png_is_composited_on_neutral_grey() -> None:
    # Given a grey+alpha PNG: black opaque and black transparent
    la = np.zeros((2, 2, 2), dtype=np.uint8)
    la[:, 0] = (0, 255)
    la[:, 1] = (0, 0)
    decoded = decode_image(encode(Image.fromarray(la, "LA"), "PNG"))
    # Then
    assert tuple(decoded.rgb[0, 0]) == (0, 0, 0)
    assert tuple(decoded.rgb[0, 1]) == NEUTRAL_BACKGROUND


@pytest.mark.parametrize("image_format", ["PNG", "GIF"])
def test_palette_image_with_transparent_index(image_format: str) -> None:
    # Given a palette image whose index 1 is transparent
    palette_image = Image.new("P", (4, 2), 0)
    palette_image.putpalette([10, 200, 30, 250, 0, 250] + [0, 0, 0] * 254)
    palette_image.putpixel((3, 0), 1)
    palette_image.putpixel((3, 1), 1)
    data = encode(palette_image, image_format, transparency=1)
    # When decoded
    decoded = decode_image(data)
    # Then index 0 keeps its colour and the transparent index becomes grey
    assert tuple(decoded.rgb[0, 0]) == (10, 200, 30)
    assert tuple(decoded.rgb[0, 3]) == NEUTRAL_BACKGROUND


def test_one_bit_png() -> None:
    # Given a 1-bit black and white PNG
    bits = np.zeros((8, 8), dtype=bool)
    bits[:, 4:] = True
    decoded = decode_image(encode(Image.fromarray(bits), "PNG"))
    # Then black stays black and white is 255
    assert (decoded.rgb[:, :4] == 0).all()
    assert (decoded.rgb[:, 4:] == 255).all()


# ---------------------------------------------------------------- multi-frame


def coloured_frames() -> list[Image.Image]:
    return [Image.new("RGB", (40, 30), colour) for colour in ((220, 20, 20), (20, 220, 20), (20, 20, 220))]


@pytest.mark.parametrize(
    ("image_format", "options"),
    [
        ("GIF", {"duration": 100, "loop": 0}),
        ("WEBP", {"duration": 100, "loop": 0, "lossless": True}),
        ("PNG", {"duration": 100, "loop": 0}),
        ("MPO", {}),
    ],
)
def test_animated_and_multi_picture_files_give_the_first_frame(image_format: str, options: dict[str, object]) -> None:
    # Given a three-frame animation (or multi-picture JPEG): red, green, blue
    first, *rest = coloured_frames()
    data = encode(first, image_format, save_all=True, append_images=rest, **options)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    # When decoded
    decoded = decode_image(data)
    # Then it is the first (red) frame
    assert np.abs(decoded.rgb.reshape(-1, 3).mean(axis=0) - (220, 20, 20)).max() < 8
    assert decoded.format == ("JPEG" if image_format == "MPO" else image_format)


# ---------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    # Given a flat-block picture stored with EXIF orientation 1-8
    raw = blocks_image()
    data = jpeg_with_orientation(raw, orientation)
    # When decoded
    decoded = decode_image(data)
    # Then the pixels are the upright picture per the EXIF specification
    expected = expected_upright(raw, orientation)
    assert decoded.rgb.shape == expected.shape
    assert np.abs(decoded.rgb.astype(int) - expected).mean() < 4
    assert decoded.original_size == (expected.shape[1], expected.shape[0])
    # And it differs from every other orientation's reading
    for other in set(range(1, 9)) - {orientation}:
        wrong = expected_upright(raw, other)
        if wrong.shape == expected.shape and not np.array_equal(wrong, expected):
            assert np.abs(decoded.rgb.astype(int) - wrong).mean() > 20


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_out_of_range_orientation_is_ignored(orientation: int) -> None:
    # Given an EXIF orientation outside 1-8 / When decoded / Then the picture is left as stored
    raw = blocks_image()
    decoded = decode_image(jpeg_with_orientation(raw, orientation))
    assert np.abs(decoded.rgb.astype(int) - raw).mean() < 4


def test_corrupt_exif_block_does_not_refuse_the_picture() -> None:
    # Given a JPEG whose APP1 segment is "Exif" followed by garbage
    raw = blocks_image()
    data = encode(Image.fromarray(raw), "JPEG", quality=95, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(30))
    # When decoded / Then the picture decodes as stored
    decoded = decode_image(data)
    assert np.abs(decoded.rgb.astype(int) - raw).mean() < 4


def test_rotated_large_jpeg_reports_upright_original_size() -> None:
    # Given a 4000 x 3000 JPEG with orientation 6 (portrait phone photo)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (4000, 3000), (90, 90, 90)), "JPEG", exif=exif.tobytes())
    # When decoded
    decoded = decode_image(data)
    # Then the working image is portrait 1200 x 1600 and the original size is upright
    assert decoded.rgb.shape == (1600, 1200, 3)
    assert decoded.original_size == (3000, 4000)
    assert decoded.scale == pytest.approx(0.4)


# ---------------------------------------------------------------- downscaling


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_large_images_are_downscaled_with_antialiasing(image_format: str) -> None:
    # Given a 3200 x 2400 one-pixel black/white checkerboard (pure aliasing bait)
    yy, xx = np.mgrid[0:2400, 0:3200]
    board = (((yy + xx) % 2) * 255).astype(np.uint8)
    data = encode(Image.fromarray(board, "L"), image_format, **({"quality": 85} if image_format == "JPEG" else {}))
    # When decoded with the default 1600 px working size
    decoded = decode_image(data)
    # Then the image is 1600 x 1200 at scale 0.5 and averages to flat mid-grey (no moire)
    assert decoded.rgb.shape == (1200, 1600, 3)
    assert decoded.scale == pytest.approx(0.5)
    assert decoded.original_size == (3200, 2400)
    assert abs(float(decoded.rgb.mean()) - 127.5) < 6
    assert float(decoded.rgb.std()) < 12


def test_working_size_is_configurable_and_keeps_the_aspect_ratio() -> None:
    # Given a 1000 x 250 PNG and a working size of 400 px
    data = encode(noise_image(1000, 250), "PNG")
    decoded = decode_image(data, DecodeLimits(working_max_side=400))
    # Then the working image is 400 x 100 at scale 0.4
    assert decoded.rgb.shape == (100, 400, 3)
    assert decoded.scale == pytest.approx(0.4)
    assert decoded.original_size == (1000, 250)


def test_small_images_are_never_upscaled() -> None:
    # Given a 1 x 1 image / When decoded / Then it stays 1 x 1 at scale 1
    decoded = decode_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert decoded.rgb.shape == (1, 1, 3)
    assert decoded.scale == 1.0


# ---------------------------------------------------------------- HEIF


def test_heic_decodes() -> None:
    # Given a HEIC file (iPhone format) made with pillow-heif's encoder
    raw = blocks_image()
    data = heic_bytes(Image.fromarray(raw))
    assert sniff_format(data) == "HEIF"
    # When decoded
    decoded = decode_image(data)
    # Then the picture matches within HEVC loss
    assert decoded.format == "HEIF"
    assert decoded.rgb.shape == raw.shape
    assert np.abs(decoded.rgb.astype(int) - raw).mean() < 8


def test_heic_rotation_is_applied_once() -> None:
    # Given a HEIC whose EXIF says "rotate 90 CW" (libheif applies it while decoding)
    import pillow_heif

    raw = blocks_image()
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(raw)).save(buffer, quality=90, exif=exif.tobytes())
    # When decoded
    decoded = decode_image(buffer.getvalue())
    # Then it is rotated exactly once
    expected = expected_upright(raw, 6)
    assert decoded.rgb.shape == expected.shape
    assert np.abs(decoded.rgb.astype(int) - expected).mean() < 8


def test_truncated_heic_is_corrupt() -> None:
    # Given a HEIC cut in half / When decoded / Then corrupt_image
    data = heic_bytes(noise_image(64, 64))
    assert rejected_code(data[: len(data) // 2]) == "corrupt_image"


def test_importing_decode_registers_nothing() -> None:
    # Given a fresh interpreter / When facegate.vision.decode is imported
    code = (
        "import sys; from PIL import Image; import facegate.vision.decode; "
        "assert 'pillow_heif' not in sys.modules, 'pillow_heif imported at import time'; "
        "assert 'HEIF' not in Image.OPEN, 'HEIF opener registered at import time'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    # Then neither pillow-heif nor its opener is loaded
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- never anything but FacegateError


def fuzz_seeds() -> list[bytes]:
    image = noise_image(24, 16, seed=11)
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        encode(image, "JPEG", quality=80, exif=exif.tobytes()),
        encode(image, "JPEG", quality=80, progressive=True),
        encode(image, "PNG"),
        encode(image.convert("RGBA"), "PNG"),
        encode(image, "WEBP", quality=80),
        encode(image.convert("P"), "GIF"),
        heic_bytes(image),
    ]


SEEDS = fuzz_seeds()


def decode_or_error(data: bytes) -> DecodedImage | FacegateError:
    try:
        return decode_image(data)
    except FacegateError as error:
        return error


def check_outcome(data: bytes) -> None:
    outcome = decode_or_error(data)
    if isinstance(outcome, DecodedImage):
        assert_valid(outcome)
    else:
        assert isinstance(outcome, ImageRejected | PayloadTooLarge)
        assert outcome.code in {"empty_image", "corrupt_image", "image_too_large", "unsupported_image_format"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_give_an_image_or_a_typed_error(data: bytes) -> None:
    # Given arbitrary bytes / When decoded / Then a valid image or a typed ImageRejected
    check_outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), st.integers(3, 64), st.binary(max_size=2048))
def test_random_bytes_behind_a_valid_header(seed: int, keep: int, tail: bytes) -> None:
    # Given the first bytes of a valid file of each format followed by random bytes
    # When decoded / Then a valid image or a typed ImageRejected
    check_outcome(SEEDS[seed][:keep] + tail)


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.integers(0, len(SEEDS) - 1))])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "cut":
            data = data[:position]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 32))]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seed())
def test_mutated_valid_images_give_an_image_or_a_typed_error(data: bytes) -> None:
    # Given a valid image of each format with a few bytes flipped, set, cut, inserted or deleted
    # When decoded / Then a valid image or a typed ImageRejected, never another exception
    check_outcome(data)


# ---------------------------------------------------------------- memory stays bounded


def hostile_inputs() -> list[bytes]:
    return [
        png_bomb(7000, 6000),
        png_file(100_000, 100_000, zlib.compress(b"\x00" * 100)),
        jpeg_with_declared_size(11_000, 11_000),
        gif_with_declared_size(65_535, 65_535),
        b"\xff\xd8\xff" + bytes(6 * MIB),
    ]


def largest_valid_jpeg() -> bytes:
    smooth = noise_image(400, 300).resize((4000, 3000), Image.Resampling.BICUBIC)
    data = encode(smooth, "JPEG", quality=90)
    assert len(data) < 5 * MIB
    return data


def test_hostile_inputs_do_not_grow_memory() -> None:
    # Given the worst inputs: a 42 Mpx PNG bomb, giant JPEG/GIF/PNG headers, 6 MB of bytes,
    # and a valid 12 Mpx JPEG (the heaviest legitimate decode)
    hostile = hostile_inputs()
    valid = largest_valid_jpeg()
    for data in [*hostile, valid]:  # warm up allocators and plugin imports
        with contextlib.suppress(FacegateError):
            decode_image(data)
    before = rss_bytes()
    # When each is decoded 20 times
    for _ in range(20):
        for data in hostile:
            with contextlib.suppress(FacegateError):
                decode_image(data)
        decode_image(valid)
    growth = rss_bytes() - before
    # Then the process's resident memory grew by less than 50 MB
    print(f"RSS growth after 20 rounds: {growth / MIB:.1f} MiB")
    assert growth < 50 * MIB


def test_hostile_inputs_never_allocate_their_canvas() -> None:
    # Given the hostile inputs (decoding the bomb alone would need 42 MB, the giant headers GBs)
    hostile = hostile_inputs()
    for data in hostile:
        with contextlib.suppress(FacegateError):
            decode_image(data)
    if not reset_peak_rss():
        pytest.skip("peak RSS cannot be reset on this platform")
    baseline = rss_bytes()
    # When each is decoded 20 times
    for _ in range(20):
        for data in hostile:
            with contextlib.suppress(FacegateError):
                decode_image(data)
    peak_growth = peak_rss_bytes() - baseline
    # Then the peak resident memory stayed within 20 MB of where it started
    print(f"peak RSS above baseline: {peak_growth / MIB:.1f} MiB")
    assert peak_growth < 20 * MIB

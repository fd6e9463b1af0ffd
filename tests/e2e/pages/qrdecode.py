"""Checks that a QR code drawn on a page canvas encodes a given text, independently of the page's encoder.

With ``zxing-cpp`` installed the canvas pixels are decoded by ZXing; without it, the canvas's module grid
is compared with the reference ``qrcode`` package's symbol for the same text (byte mode, level M, the mask
the canvas uses).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image


def canvas_image(page: Any, selector: str) -> Image.Image:
    """The exact pixels of a <canvas> (via toDataURL), as an RGB image."""
    url = page.eval_on_selector(selector, "(c) => c.toDataURL('image/png')")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def decode_with_zxing(image: Image.Image) -> list[str]:
    import zxingcpp

    return [result.text for result in zxingcpp.read_barcodes(image) if result.format == zxingcpp.BarcodeFormat.QRCode]


def module_grid(image: Image.Image, quiet: int = 4) -> np.ndarray:
    """Dark modules (bool matrix) of a crisp QR image with a ``quiet``-module light border."""
    grey = np.asarray(image.convert("L")) < 128
    rows, cols = np.nonzero(grey)
    top, left, bottom = rows.min(), cols.min(), rows.max()
    finder_width = int(np.argmin(grey[top, left:]))
    scale = finder_width / 7
    count = round((bottom - top + 1) / scale)
    centres = (np.arange(count) + 0.5) * scale
    return grey[np.ix_((top + centres).astype(int), (left + centres).astype(int))]


def reference_grid(text: str, version: int, mask: int) -> np.ndarray:
    import qrcode
    from qrcode.util import MODE_8BIT_BYTE, QRData

    symbol = qrcode.QRCode(
        version=version, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=mask
    )
    symbol.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    symbol.make(fit=False)
    return np.array(symbol.modules, dtype=bool)


def assert_qr_encodes(page: Any, selector: str, expected: str) -> None:
    """Fails unless the QR code on the canvas ``selector`` encodes ``expected``."""
    image = canvas_image(page, selector)
    try:
        texts = decode_with_zxing(image)
    except ImportError:
        grid = module_grid(image)
        version = (grid.shape[0] - 17) // 4
        matches = [m for m in range(8) if np.array_equal(reference_grid(expected, version, m), grid)]
        assert matches, f"the canvas QR ({grid.shape[0]} modules) is not the reference symbol of {expected!r}"
        return
    assert texts == [expected], f"ZXing read {texts!r} from {selector}"

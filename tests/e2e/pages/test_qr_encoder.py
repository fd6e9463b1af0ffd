"""The page's own QR encoder (static/qr.js), checked against the reference `qrcode` package and ZXing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from .conftest import Harness
from .qrdecode import canvas_image, decode_with_zxing, reference_grid

PAYLOADS = ["K7Q2M9XA", "ABCDEFGHJKMNPQRS", "hello, facegate 0123456789", "x" * 40, "본인확인코드", "z" * 62]


@pytest.fixture
def qr_page(open_page: Callable[..., Harness]) -> Any:
    harness = open_page()
    harness.page.goto(f"{harness.base}/kiosk")
    harness.page.wait_for_selector("body[data-ready='true']")
    return harness.page


def encode(page: Any, text: str, **options: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "async ([text, options]) => (await import('/static/qr.js')).encodeQR(text, options)", [text, options]
        )
    )


def test_symbols_equal_the_reference_encoder_for_every_version_and_mask(qr_page: Any) -> None:
    # Given byte-mode payloads that need versions 1 to 4 at level M
    cases = [("K7Q2M9XA", 1), ("K7Q2M9XA", 2), ("hello, facegate 0123456789", 3), ("본인확인코드", 3), ("z" * 62, 4)]
    for text, version in cases:
        for mask in range(8):
            # When the page encodes them with a fixed version and mask
            symbol = encode(qr_page, text, minVersion=version, mask=mask)

            # Then every module equals the reference `qrcode` package's symbol
            assert symbol["version"] == version and symbol["mask"] == mask
            grid = np.array(symbol["modules"], dtype=bool)
            assert np.array_equal(grid, reference_grid(text, version, mask)), (text, version, mask)


def test_smallest_version_is_chosen_and_too_long_is_refused(qr_page: Any) -> None:
    # Given payloads at the byte capacities of versions 1-4 at level M (14, 26, 42, 62 bytes)
    sizes = {14: 1, 15: 2, 26: 2, 27: 3, 42: 3, 43: 4, 62: 4}

    # Then the smallest version that fits is used
    for length, version in sizes.items():
        assert encode(qr_page, "a" * length)["version"] == version

    # And 63 bytes do not fit
    message = qr_page.evaluate(
        "async () => { try { (await import('/static/qr.js')).encodeQR('a'.repeat(63)); return ''; }"
        " catch (e) { return e.name; } }"
    )
    assert message == "RangeError"


@pytest.mark.parametrize("text", PAYLOADS)
def test_rendered_canvas_decodes_with_zxing(qr_page: Any, text: str) -> None:
    pytest.importorskip("zxingcpp", reason="zxing-cpp not installed; the reference comparison covers the encoder")

    # Given a QR code drawn by the page on a canvas with the automatically chosen mask
    qr_page.evaluate(
        """async (text) => {
            const canvas = document.createElement('canvas');
            canvas.id = 'qr-under-test';
            document.body.append(canvas);
            (await import('/static/qr.js')).renderQR(canvas, text, {scale: 4, quiet: 4});
        }""",
        text,
    )

    # When ZXing reads the canvas pixels
    texts = decode_with_zxing(canvas_image(qr_page, "#qr-under-test"))

    # Then it reads the text back
    assert texts == [text]

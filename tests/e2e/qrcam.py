"""Fake-camera pictures of a person holding a QR code next to their face (claim-first kiosk tests).

:func:`face_with_qr` composes one 640x480 RGB frame: the face photo on the left, the QR code (as shown on
the visitor's phone: black modules on a white quiet zone) on the right, as if held up beside the face.
:func:`qr_image` draws a QR code with the reference ``qrcode`` package (byte mode, level M), for tests that
do not take the QR from the visitor page itself. Feed the frames to :func:`fakecam.write_y4m`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

try:
    import fakecam
except ImportError:  # tests/e2e became a package
    from e2e import fakecam  # type: ignore[no-redef]

FACE_SIDE = 420
"""Side (px) of the square the face photo is fitted into, at the left of the frame."""
QR_SIDE = 200
"""Side (px) of the QR code (quiet zone included) at the right of the frame."""


def qr_image(text: str, *, box: int = 8, border: int = 4) -> Image.Image:
    """A black-on-white QR code of ``text`` (byte mode, level M) with a ``border``-module quiet zone."""
    import qrcode
    from qrcode.util import MODE_8BIT_BYTE, QRData

    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=border)
    symbol.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    symbol.make(fit=True)
    image = symbol.make_image(fill_color="black", back_color="white")
    return image.get_image().convert("RGB") if hasattr(image, "get_image") else image.convert("RGB")


def face_with_qr(face: Path | Image.Image, qr: Image.Image | None) -> Image.Image:
    """A 640x480 frame: ``face`` fitted into a FACE_SIDE square at the left, ``qr`` (if any) at the right,
    scaled to QR_SIDE with nearest-neighbour sampling (crisp modules, as on a phone screen)."""
    frame = Image.new("RGB", (fakecam.FRAME_WIDTH, fakecam.FRAME_HEIGHT), (40, 40, 40))
    if isinstance(face, Image.Image):
        picture = face.convert("RGB")
    else:
        with Image.open(face) as opened:
            picture = ImageOps.exif_transpose(opened).convert("RGB")
    fitted = fakecam.letterbox(picture, FACE_SIDE, FACE_SIDE)
    frame.paste(fitted, (10, (fakecam.FRAME_HEIGHT - FACE_SIDE) // 2))
    if qr is not None:
        code = qr.convert("RGB").resize((QR_SIDE, QR_SIDE), Image.Resampling.NEAREST)
        frame.paste(code, (fakecam.FRAME_WIDTH - QR_SIDE - 10, (fakecam.FRAME_HEIGHT - QR_SIDE) // 2))
    return frame

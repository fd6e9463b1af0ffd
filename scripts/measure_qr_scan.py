"""How small, blurred and tilted may the claim QR be in the kiosk's camera picture and still be read?

    .venv/bin/python scripts/measure_qr_scan.py [--face PATH] [--code K7Q2M9XA]

Builds 640x480 camera frames the way the claim-first kiosk sees them: a face photo on the left and the claim
QR (byte mode, level M, 4-module quiet zone, as the visitor page draws it) held up on the right, scaled to a
given width (bilinear, like a camera), optionally tilted and blurred, then JPEG-compressed (quality 80) and
decoded with the kiosk's own decoder: jsQR from node_modules (npm ci), run with Node.js exactly as the kiosk's
Web Worker calls it (``inversionAttempts: 'dontInvert'``). Prints, per blur and tilt, the smallest QR width
(pixels, quiet zone included) that was read at every offset tried. A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import qrcam  # noqa: E402

JSQR = REPO / "node_modules" / "jsqr" / "dist" / "jsQR.js"
WIDTH, HEIGHT = 640, 480
SIDES = (48, 56, 64, 72, 80, 96, 112, 128, 160, 200)
BLURS = (0.0, 1.0, 2.0)
TILTS = (0, 15, 30)
OFFSETS = ((0, 0), (3, 5), (7, 2))
NODE_DECODER = """
const fs = require('fs');
const jsQR = require(process.argv[2]);
const items = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const out = items.map((item) => {
  const data = new Uint8ClampedArray(fs.readFileSync(item.file));
  const found = jsQR(data, item.width, item.height, { inversionAttempts: 'dontInvert' });
  return found ? found.data : null;
});
process.stdout.write(JSON.stringify(out));
"""


def frame(face: Path, qr: Image.Image, side: int, blur: float, tilt: int, offset: tuple[int, int]) -> Image.Image:
    """One camera frame: face left, QR of ``side`` px right, tilted, blurred, JPEG (q80) round trip."""
    picture = qrcam.face_with_qr(face, None)
    code = qr.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    if tilt:
        code = code.rotate(tilt, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
    x = WIDTH - code.width - 20 + offset[0]
    y = (HEIGHT - code.height) // 2 + offset[1]
    picture.paste(code, (x, y))
    if blur:
        picture = picture.filter(ImageFilter.GaussianBlur(blur))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=80)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_face = REPO.parent / "shared" / "datasets" / "lfw-dev"
    parser.add_argument("--face", type=Path, default=None, help="a face photo (default: the first LFW dev image)")
    parser.add_argument("--code", default="K7Q2M9XA")
    args = parser.parse_args()
    if not JSQR.is_file():
        print(f"{JSQR} is missing: run `npm ci`", file=sys.stderr)
        return 2
    face = args.face or next(iter(sorted(default_face.glob("*/*.jpg"))), None)
    if face is None:
        print(f"no face photo: pass --face (looked under {default_face})", file=sys.stderr)
        return 2
    qr = qrcam.qr_image(args.code, box=12)
    cases = [(s, b, t, o) for b in BLURS for t in TILTS for s in SIDES for o in OFFSETS]
    with tempfile.TemporaryDirectory() as scratch:
        items = []
        for index, (side, blur, tilt, offset) in enumerate(cases):
            path = Path(scratch) / f"{index}.rgba"
            path.write_bytes(frame(face, qr, side, blur, tilt, offset).tobytes())
            items.append({"file": str(path), "width": WIDTH, "height": HEIGHT})
        listing = Path(scratch) / "items.json"
        listing.write_text(json.dumps(items))
        script = Path(scratch) / "decode.js"
        script.write_text(NODE_DECODER)
        run = subprocess.run(  # noqa: S603 - fixed interpreter and script
            ["node", str(script), str(JSQR), str(listing)],  # noqa: S607 - node from PATH
            capture_output=True,
            text=True,
            check=True,
        )
    texts = json.loads(run.stdout)
    read = {case: text == args.code for case, text in zip(cases, texts, strict=True)}
    print(f"jsQR on 640x480 JPEG (q80) frames; face {face.name}; QR of {args.code!r} (29 modules with quiet zone)")
    print("smallest QR width (px, quiet zone included) read at every offset; px per module in brackets")
    print(f"{'blur sigma':>10} " + " ".join(f"{f'tilt {t} deg':>16}" for t in TILTS))
    for blur in BLURS:
        cells = []
        for tilt in TILTS:
            ok = [s for s in SIDES if all(read[(s, blur, tilt, o)] for o in OFFSETS)]
            smallest = min((s for s in ok if all(t in ok for t in SIDES if t >= s)), default=None)
            cells.append("never" if smallest is None else f"{smallest} ({smallest / 29:.1f})")
        print(f"{blur:>10} " + " ".join(f"{c:>16}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

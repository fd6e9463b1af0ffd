"""Measure whether YuNet's score tells an upright face from one turned by 90, 180 or 270 degrees.

YuNet reports a face stored sideways or upside down (no EXIF tag) as an upright face with plausible
landmarks, so such a photo passes the quality gates (``tests/integration/test_engine_bad_input.py``,
strict xfail). This script measures the basis of a rotation check: for each LFW dev image, the score
of the face nearest the centre as stored and after turning the image by 90, 180 and 270 degrees.

Usage:
    .venv/bin/python scripts/measure_rotation.py [--shared DIR] [--step N]

    --shared: the shared folder (default: $FACEGATE_SHARED_DIR or the repo's sibling ../shared)
    --step: use every N-th LFW dev image (default 1: all 1549)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

from facegate.vision import FaceEngine
from facegate_tools.engine import load_engine

REPO = Path(__file__).resolve().parents[1]
TURNS = (0, 90, 180, 270)


def central_score(engine: FaceEngine, rgb: np.ndarray) -> float:
    """Score of the detection nearest the image centre (0 when there is none above 0.3)."""
    height, width = rgb.shape[:2]
    found = engine.detector.detect(rgb, min_face_px=20.0, score_threshold=0.3)
    if not found:
        return 0.0
    nearest = min(found, key=lambda d: (d.box.center[0] - width / 2) ** 2 + (d.box.center[1] - height / 2) ** 2)
    return nearest.score


def main() -> None:
    """Print score statistics per turn and how often the upright image scores highest."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("FACEGATE_SHARED_DIR", str(REPO.parent / "shared")))
    parser.add_argument("--step", type=int, default=1)
    args = parser.parse_args()
    paths = sorted((Path(args.shared) / "datasets" / "lfw-dev").glob("*/*.jpg"))[:: args.step]
    if not paths:
        raise SystemExit("LFW dev images not found")
    engine = load_engine()
    scores = []
    for path in paths:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        scores.append([central_score(engine, np.ascontiguousarray(np.rot90(rgb, turn // 90))) for turn in TURNS])
    table = np.array(scores)
    print(f"{len(table)} LFW dev images; score of the face nearest the centre, by counter-clockwise turn:")
    for column, turn in enumerate(TURNS):
        values = table[:, column]
        print(
            f"    {turn:>3} degrees: median {np.median(values):.3f}, p5 {np.percentile(values, 5):.3f}, "
            f"found at >= 0.5 in {100.0 * np.mean(values >= 0.5):.1f}%"
        )
    others = table[:, 1:].max(axis=1)
    for margin in (0.0, 0.05, 0.1):
        share = 100.0 * np.mean(table[:, 0] > others + margin)
        print(f"    upright scores above every turn by more than {margin}: {share:.1f}%")


if __name__ == "__main__":
    main()

"""Measure the enrollment framing gate: inter-ocular distance / shorter image side of the largest face.

Runs ``FaceEngine.detect`` (the enrollment path) on LFW dev, east-asian-dev and the edge images and
prints, per data set, the distribution of the framing ratio, how many faces fall under
``ENROLL_THRESHOLDS.min_face_fraction`` and how many are refused ``face_too_small`` in all.

Usage:
    .venv/bin/python scripts/measure_framing.py [--shared DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from facegate.errors import FacegateError
from facegate.vision import quality
from facegate_tools.engine import load_engine

REPO = Path(__file__).resolve().parents[1]
DATASETS = {
    "lfw-dev": "lfw-dev/*/*.jpg",
    "east-asian-dev": "east-asian-dev/*/*.jpg",
    "edge": "edge/*.[jp]*",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("FACEGATE_SHARED_DIR", str(REPO.parent / "shared")))
    args = parser.parse_args()
    engine = load_engine()
    limit = quality.ENROLL_THRESHOLDS.min_face_fraction
    for name, pattern in DATASETS.items():
        ratios: list[tuple[float, bool, str]] = []
        for path in sorted((Path(args.shared) / "datasets").glob(pattern)):
            data = path.read_bytes()
            try:
                faces = engine.detect(data)
                short_side = min(engine.decode(data).original_size)
            except FacegateError:
                continue
            if faces:
                report = faces[0].quality
                ratios.append((report.face_size_px / short_side, quality.FACE_TOO_SMALL in report.issues, path.name))
        values = np.array([r[0] for r in ratios])
        under = sorted(r for r in ratios if r[0] < limit)
        print(
            f"{name}: {len(values)} faces, ratio min {values.min():.3f} p5 {np.quantile(values, 0.05):.3f} "
            f"median {np.median(values):.3f}; under {limit}: {len(under)} ({100.0 * len(under) / len(values):.1f}%); "
            f"face_too_small in all: {sum(r[1] for r in ratios)}"
        )
        for ratio, _, file in under[:12]:
            print(f"    {ratio:.3f} {file}")


if __name__ == "__main__":
    main()

"""Bracket what a real door burst of F = 2 frames gives, without burst data.

    FACEGATE_MODEL_DIR=build/models .venv/bin/python scripts/burst_bounds.py [--sizes 10,100] [--level standard]

``facegate eval door --frames 2`` fuses two *different photos* of a person: an optimistic stand-in for a
burst (frames 300 ms apart are far more alike). This script adds the pessimistic bound: the second frame is
the first photo slightly moved, scaled, rotated, brightened, noised and re-encoded (what a camera sees of a
person standing still). A real burst lies between the two. Same protocol as ``eval door`` otherwise (K = 3
selfies from east-asian-dev, gallery halves as strangers, LFW dev distractors, the door policy's F = 2
thresholds), face-only rates per N.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import DoorPolicy, shipped_calibration
from facegate.vision.engine import fuse
from facegate_tools.engine import load_engine
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.descriptors import DescriptorCache
from facegate_tools.evaluation.door import Attempt, Enrolled, Tally, simulate

REPO = Path(__file__).resolve().parents[1]


def jitter(data: bytes, rng: random.Random) -> bytes:
    """The same photo as a second frame a moment later: small shift/scale/rotation, light, noise, JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    angle = rng.uniform(-3, 3)
    scale = rng.uniform(0.97, 1.03)
    dx, dy = rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.03, 0.03) * height
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, translate=(dx, dy))
    image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.95, 1.05))
    pixels = np.asarray(image).astype(np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 3, pixels.shape)
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--sizes", default="10,100")
    parser.add_argument("--level", choices=("standard", "high"), default="standard")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    level = SecurityLevel(args.level)
    k = 3
    engine = load_engine()
    policy = DoorPolicy(shipped_calibration())
    if policy.model_id != engine.model_id:
        sys.exit(f"calibration is for {policy.model_id}, engine is {engine.model_id}: run scripts/calibrate.py")
    cache = DescriptorCache(engine.model_id, REPO / "build" / "cache")
    rng = random.Random(args.seed)

    def vectors_of(root: Path, pick: str) -> dict[str, list[tuple[Path, np.ndarray]]]:
        paths = read_identities(root)
        found = cache.describe_paths(
            [p for ps in paths.values() for p in ps], lambda d: engine.describe(d, pick=pick), root.name, pick
        )
        return {n: [(p, found[p]) for p in ps if p in found] for n, ps in paths.items()}

    gallery = vectors_of(args.shared / "datasets" / "east-asian-dev", "largest")
    distractors = vectors_of(args.shared / "datasets" / "lfw-dev", "center")
    cache.save()
    names = list(gallery)
    random.Random(args.seed).shuffle(names)
    halves = [names[: len(names) // 2], names[len(names) // 2 :]]
    results: dict[str, dict[int, Tally]] = {"one frame (F = 1)": {}, "photo + jittered copy": {}, "two photos": {}}
    for own in halves:
        enrolled = Enrolled()
        attempts: dict[str, list[Attempt]] = {key: [] for key in results}
        for name in own:
            items = gallery[name]
            if len(items) < k + 2:
                continue
            enrolled.add(name, [v for _, v in items[:k]], k)
            row = len(enrolled.names) - 1
            rest = items[k:]
            for path, vector in rest:
                second = engine.describe(jitter(path.read_bytes(), rng), pick="largest")
                if second is not None:
                    attempts["photo + jittered copy"].append(Attempt(row, fuse(np.stack([vector, second]))))
                attempts["one frame (F = 1)"].append(Attempt(row, vector))
            for i in range(0, len(rest) - 1, 2):
                attempts["two photos"].append(Attempt(row, fuse(np.stack([rest[i][1], rest[i + 1][1]]))))
        n_gallery = len(enrolled.names)
        for name, items in distractors.items():
            if items:
                enrolled.add(name, [v for _, v in items], k)
        for key, tries in attempts.items():
            f = 1 if key.startswith("one") else 2
            for n in sizes:
                tally = results[key].setdefault(n, Tally())
                simulate(policy, level, enrolled, tries, [], n_gallery, n, f, random.Random(f"{args.seed}:{n}"), tally)
    print(f"model {engine.model_id}, level {level.value}, K = {k}, face alone, east-asian-dev")
    for key, by_n in results.items():
        cells = ", ".join(
            f"N={n}: {t.face_only / max(t.visitors, 1):.3f} of {t.visitors} "
            f"(through {t.through / max(t.visitors, 1):.3f})"
            for n, t in sorted(by_n.items())
        )
        print(f"{key:24s} {cells}")


if __name__ == "__main__":
    main()

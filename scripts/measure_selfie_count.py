"""Do more selfies (K = 3 vs 4 vs 5) let more visitors in? A paired comparison on the same door probes.

    .venv/bin/python scripts/measure_selfie_count.py [--shared ../shared] [--dataset east-asian-dev]

For every identity with at least 5 + F described images, templates fuse its first K images (K = 3, 4, 5) and
the probes are the same disjoint groups of F of its remaining images for every K, so only K changes. Each
probe's score against its own template is compared with the door policy's threshold for that K and F (face
alone at a door of N eligible visitors, standard level; and face + claim code). Descriptors come from the
calibration's cache (build/cache; `scripts/calibrate.py` fills it). Prints the share of probes let in,
per K. A measurement script, not a test: the sample is small (see the probe counts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import DoorPolicy, shipped_calibration
from facegate.vision.engine import fuse
from facegate_tools.engine import load_engine
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.descriptors import DescriptorCache

REPO = Path(__file__).resolve().parents[1]
KS = (3, 4, 5)
FRAMES = (1, 2)
SIZES = (1, 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--dataset", default="east-asian-dev")
    args = parser.parse_args()
    engine = load_engine()
    policy = DoorPolicy(shipped_calibration())
    if policy.model_id != engine.model_id:
        raise SystemExit(f"calibration is for {policy.model_id}, the engine is {engine.model_id}: recalibrate")
    cache = DescriptorCache(engine.model_id, REPO / "build" / "cache")
    paths = read_identities(args.shared / "datasets" / args.dataset)
    found = cache.describe_paths(
        [p for ps in paths.values() for p in ps],
        lambda data: engine.describe(data, pick="largest"),
        args.dataset,
        "largest",
    )
    cache.save()
    vectors = {ident: [found[p] for p in ps if p in found] for ident, ps in paths.items()}
    print(f"{args.dataset}, model {engine.model_id}, standard level; share of the same probes let in")
    header = " ".join(f"{f'K={k}':>8}" for k in KS)
    for f in FRAMES:
        people = {ident: v for ident, v in vectors.items() if len(v) >= max(KS) + f}
        scores: dict[int, list[float]] = {k: [] for k in KS}
        for v in people.values():
            probes = [fuse(np.stack(v[i : i + f])) for i in range(max(KS), len(v) - f + 1, f)]
            for k in KS:
                template = fuse(np.stack(v[:k]))
                scores[k] += [float(template @ probe) for probe in probes]
        n_probes = len(scores[KS[0]])
        print(
            f"\nF = {f}: {len(people)} identities, {n_probes} probes (each tried against its own K = 3, 4, 5 template)"
        )
        print(f"{'entry':<22} {header}")
        for n in SIZES:
            cells = []
            for k in KS:
                threshold = policy.face_only(SecurityLevel.STANDARD, n, k, f).threshold
                rate = "off" if threshold is None else f"{np.mean(np.array(scores[k]) >= threshold):.2f}"
                cells.append(f"{rate:>8}")
            print(f"{f'face alone, N = {n}':<22} " + " ".join(cells))
        cells = []
        for k in KS:
            claim = policy.claim(SecurityLevel.STANDARD, k, f).threshold or 1.0
            cells.append(f"{np.mean(np.array(scores[k]) >= claim):>8.2f}")
        print(f"{'face + claim code':<22} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write ``layers/facegate/domain/calibration.json``: the score statistics the door policy resolves thresholds from.

    .venv/bin/python scripts/calibrate.py [--shared ../shared] [--out layers/facegate/domain/calibration.json]

Uses only the engine's public API (``load_engine()``, ``model_id``, ``describe``, ``fuse``); descriptors
are cached per image in ``build/cache/descriptors-<model_id>.npz`` so re-runs take seconds.

Protocol, per data set (folder per identity) and per K = 1..5 enrollment images and F = 1..3 probe frames:
identities with at least K + F described images enroll their first K (fused); every further disjoint group of
F images is one probe (fused). Genuine score = probe vs its own template; impostor scores = probe vs every other
enrolled identity's template. Identities with fewer than K + F images are never enrolled: each disjoint group of
F of their images is a stranger probe scored against every template (more impostor scores, same meaning).

Stored per (data set, K, F): counts, impostor mean / sd, the highest impostor scores (for empirical rates
in the tail), genuine score percentiles (for expected acceptance rates), the model id and this command.
The policy (``facegate.domain.policy``) turns these into thresholds; nothing here is a threshold.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.vision.engine import fuse
from facegate_tools.engine import load_engine
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.descriptors import DescriptorCache

REPO = Path(__file__).resolve().parents[1]
DATASETS = {"east-asian-dev": "largest", "lfw-dev": "center"}
"""Data sets used and how the person of interest is picked in each image."""
K_RANGE = range(1, 6)
F_RANGE = range(1, 4)
TOP_IMPOSTORS = 20
TAIL_STEPS_PER_DECADE = 10
TAIL_START = 0.2
"""The impostor tail is stored as (rate, score) points: the score exceeded by that fraction of impostor scores,
for rates 0.2, 0.2 * 10^-0.1, ... down to one score in n."""
GENUINE_PERCENTILES = 101
Vector = npt.NDArray[np.float32]


def cell(
    identities: dict[str, list[Vector]], k: int, f: int, probe_vectors: dict[str, list[Vector]] | None = None
) -> dict[str, Any] | None:
    """Score statistics of templates fusing ``k`` images against probes fusing ``f`` images.

    ``probe_vectors``: the same images described another way for the probe role (what-if measurements of
    role-specific preprocessing); by default the probes use ``identities``' vectors too.
    """
    templates: list[Vector] = []
    probes: list[Vector] = []
    owners: list[int] = []
    for identity, vectors in identities.items():
        as_probes = vectors if probe_vectors is None else probe_vectors[identity]
        if len(vectors) >= k + f:
            templates.append(fuse(np.stack(vectors[:k])))
            owner = len(templates) - 1
            rest = as_probes[k:]
        else:
            owner = -1
            rest = as_probes
        for start in range(0, len(rest) - f + 1, f):
            probes.append(fuse(np.stack(rest[start : start + f])))
            owners.append(owner)
    if len(templates) < 2:
        return None
    scores = np.stack(probes).astype(np.float64) @ np.stack(templates).astype(np.float64).T
    owner = np.array(owners)
    genuine_mask = owner[:, None] == np.arange(len(templates))[None, :]
    genuine = scores[genuine_mask]
    impostor = scores[~genuine_mask]
    ordered = np.sort(impostor)[::-1]
    tail = []
    rate = TAIL_START
    while rate * impostor.size >= 1.0:
        rank = round(rate * impostor.size)
        tail.append([float(f"{rank / impostor.size:.4g}"), round(float(ordered[rank - 1]), 5)])
        rate /= 10 ** (1 / TAIL_STEPS_PER_DECADE)
    return {
        "k": k,
        "f": f,
        "n_enrolled": len(templates),
        "n_genuine_probes": int(np.count_nonzero(owner >= 0)),
        "n_stranger_probes": int(np.count_nonzero(owner < 0)),
        "n_genuine": int(genuine.size),
        "n_impostor": int(impostor.size),
        "impostor_mean": round(float(impostor.mean()), 6),
        "impostor_sd": round(float(impostor.std(ddof=1)), 6),
        "impostor_tail": tail,
        "impostor_top": [round(float(s), 5) for s in ordered[:TOP_IMPOSTORS]],
        "genuine_percentiles": [
            round(float(q), 5) for q in np.percentile(genuine, np.linspace(0, 100, GENUINE_PERCENTILES))
        ]
        if genuine.size
        else [],
    }


def compact_json(value: Any) -> str:
    """JSON with one line per cell (small diffs, readable)."""
    text = json.dumps(value, indent=1)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


def check(path: Path) -> None:
    """Print the tail model's upper-bound rate next to the observed impostor rate, where >= 10 scores exceed."""
    from statistics import NormalDist

    from facegate.domain.policy import MIN_TAIL_EXCEEDANCES, Calibration, tail_far, tail_fit

    calibration = Calibration.from_dict(json.loads(path.read_text()))
    print(f"model {calibration.model_id}")
    print(f"{'data set':16s} {'K':>2s} {'F':>2s} {'cosine':>8s} {'observed':>10s} {'estimate':>10s}")
    for name, cells in calibration.cells.items():
        for (k, f), cell in sorted(cells.items()):
            if k != 3:
                continue
            points = [(r, s) for r, s in cell.impostor_tail if r * cell.n_impostor >= MIN_TAIL_EXCEEDANCES]
            for rate, score in points[-1:] + [p for p in points if abs(p[0] - 1e-2) / 1e-2 < 0.12]:
                print(f"{name:16s} {k:2d} {f:2d} {score:8.4f} {rate:10.2e} {tail_far(cell, score):10.2e}")
            top = cell.impostor_top[0]
            print(f"{name:16s} {k:2d} {f:2d} {top:8.4f} {1 / cell.n_impostor:10.2e} {tail_far(cell, top):10.2e}  (max)")
    print("held out: the tail fitted only on rates >= 1e-3, extrapolated to where >= 5 scores exceed")
    for name, cells in calibration.cells.items():
        for (k, f), cell in sorted(cells.items()):
            if f != 1 or cell.n_impostor < 50_000:
                continue
            held = tuple((r, s) for r, s in cell.impostor_tail if r >= 1e-3)
            a, b = tail_fit(dataclasses.replace(cell, impostor_tail=held))
            for rate, score in cell.impostor_tail:
                if rate < 1e-3 and rate * cell.n_impostor >= 5 and round(math.log10(rate) * 10) % 5 == 0:
                    estimate = 1.0 - NormalDist().cdf((score - a) / b)
                    print(f"{name:16s} {k:2d} {f:2d} {score:8.4f} {rate:10.2e} {estimate:10.2e}  (held out)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder holding datasets/")
    parser.add_argument("--out", type=Path, default=REPO / "layers/facegate/domain/calibration.json")
    parser.add_argument(
        "--check", action="store_true", help="only print the tail model against the observed rates of --out"
    )
    args = parser.parse_args()
    if args.check:
        check(args.out)
        return

    engine = load_engine()
    cache = DescriptorCache(engine.model_id, REPO / "build" / "cache")
    datasets: dict[str, Any] = {}
    for name, pick in DATASETS.items():
        root = args.shared / "datasets" / name
        if not root.is_dir():
            sys.exit(f"{root} is missing: calibration needs both data sets")
        paths = read_identities(root)
        found = cache.describe_paths(
            [p for ps in paths.values() for p in ps],
            lambda data, pick=pick: engine.describe(data, pick=pick),  # type: ignore[misc]
            name,
            pick,
        )
        cache.save()
        vectors = {ident: [found[p] for p in ps if p in found] for ident, ps in paths.items()}
        cells = [c for k in K_RANGE for f in F_RANGE if (c := cell(vectors, k, f)) is not None]
        datasets[name] = {
            "pick": pick,
            "n_identities": len(paths),
            "n_images": sum(len(ps) for ps in paths.values()),
            "n_described": len(found),
            "cells": cells,
        }
        print(f"{name}: {len(found)} of {datasets[name]['n_images']} images described, {len(cells)} cells")
    out = {
        "model_id": engine.model_id,
        "command": " ".join(["python scripts/calibrate.py", *(shlex.quote(a) for a in sys.argv[1:])]),
        "protocol": (
            "per data set, K enrollment images and F probe frames: identities with >= K+F images enroll their "
            "first K (fused); each further disjoint group of F images is a probe (fused); identities with fewer "
            "images give stranger probes only; genuine = probe vs own template, impostor = probe vs others"
        ),
        "datasets": datasets,
    }
    args.out.write_text(compact_json(out))
    print(f"wrote {args.out} for {engine.model_id}")


if __name__ == "__main__":
    main()

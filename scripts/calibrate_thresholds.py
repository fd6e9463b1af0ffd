"""Choose the shipped identify / claim thresholds and the 1:N margin, and print the fairness table.

    .venv/bin/python scripts/calibrate_thresholds.py [--model int8] [--json out.json]

Data: ../shared/datasets/east-asian-dev (32 identities, folder per identity) and LFW View 1 dev
(pairsDevTest.txt; also read as folder-per-identity for the K-image protocol).

Rules (README, fairness section):
* identify threshold: the strictest of the thresholds that give FAR <= 1e-3 on east-asian-dev
  (templates fusing K = 1, 2, 3 images vs every other image) and on LFW dev pairs;
* claim threshold: the strictest threshold that gives FAR <= 1e-2 on east-asian-dev for K = 1, 2, 3;
* margin: the 1:N runner-up margin, chosen so that at most 2% of genuine east-asian-dev probes that clear
  the identify threshold are blocked as ambiguous.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facegate.evaluation import metrics
from facegate.evaluation.datasets import read_identities, read_pairs
from facegate.evaluation.runner import describe_all, engine_describer
from facegate.vision import thresholds
from facegate.vision.engine import FaceEngine, fuse

SHARED = Path(os.environ.get("FACEGATE_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))


def identity_scores(
    identities: dict[str, list[Path]], found: dict[Path, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine, impostor, probe x template score matrix with owner index) for templates of K images."""
    templates, probes, owners = [], [], []
    for paths in identities.values():
        usable = [found[p] for p in paths if p in found]
        if len(usable) <= k:
            continue
        templates.append(fuse(np.stack(usable[:k])))
        for vector in usable[k:]:
            probes.append(vector)
            owners.append(len(templates) - 1)
    scores = np.stack(probes) @ np.stack(templates).T
    owner = np.array(owners)
    mask = owner[:, None] == np.arange(len(templates))[None, :]
    return scores[mask].astype(np.float64), scores[~mask].astype(np.float64), np.column_stack([owner, scores])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--shipped", action="store_true", help="report the table at the shipped thresholds")
    args = parser.parse_args()

    engine = FaceEngine.load(variant=args.model)
    describe = engine_describer(engine, "largest")
    ea = read_identities(SHARED / "datasets" / "east-asian-dev")
    lfw_root = SHARED / "datasets" / "lfw-dev"
    lfw_ids = read_identities(lfw_root)
    lfw_pairs = read_pairs(lfw_root / "pairsDevTest.txt", lfw_root)

    ea_found, ea_missing = describe_all([p for ps in ea.values() for p in ps], describe, "east-asian-dev")
    lfw_found, lfw_missing = describe_all(lfw_pairs.images, engine_describer(engine, "center"), "lfw-dev")

    pair_scores = np.array(
        [lfw_found[a] @ lfw_found[b] if a in lfw_found and b in lfw_found else -1.0 for a, b in lfw_pairs.pairs]
    )
    lfw_genuine, lfw_impostor = pair_scores[lfw_pairs.same], pair_scores[~lfw_pairs.same]

    candidates: dict[str, Any] = {"lfw_pairs_far_1e-3": metrics.threshold_for_far(lfw_impostor, 1e-3)}
    ea_sets = {k: identity_scores(ea, ea_found, k) for k in (1, 2, 3)}
    for k, (_, impostor, _) in ea_sets.items():
        candidates[f"ea_k{k}_far_1e-3"] = metrics.threshold_for_far(impostor, 1e-3)
        candidates[f"ea_k{k}_far_1e-2"] = metrics.threshold_for_far(impostor, 1e-2)
    identify = max(v for key, v in candidates.items() if key.endswith("1e-3"))
    claim = max(v for key, v in candidates.items() if key.startswith("ea") and key.endswith("1e-2"))

    # margin: genuine probes above the identify threshold, gap to the best other identity
    gaps = []
    for _, _, table in ea_sets.values():
        owners, scores = table[:, 0].astype(int), table[:, 1:]
        for owner, row in zip(owners, scores, strict=True):
            if row[owner] >= identify:
                others = np.delete(row, owner)
                gaps.append(row[owner] - others.max())
    gaps_array = np.array(gaps) if gaps else np.array([1.0])
    margin = float(np.floor(np.quantile(gaps_array, 0.02) * 1000) / 1000)

    if args.shipped:
        identify, claim = thresholds.IDENTIFY_THRESHOLD, thresholds.CLAIM_THRESHOLD
    table = []
    lfw_sets = {k: identity_scores(lfw_ids, lfw_found, k) for k in (1, 2, 3)}
    for name, sets in (("east-asian-dev", ea_sets), ("lfw-dev", lfw_sets)):
        for k, (genuine, impostor, _) in sets.items():
            table.append(
                {
                    "data set": name,
                    "K": k,
                    "genuine": int(genuine.size),
                    "impostor": int(impostor.size),
                    "tar@identify": round(metrics.tar_at(genuine, identify), 3),
                    "far@identify": round(metrics.far_at(impostor, identify), 5),
                    "tar@claim": round(metrics.tar_at(genuine, claim), 3),
                    "far@claim": round(metrics.far_at(impostor, claim), 5),
                    "tar@far1e-3": round(metrics.tar_at_far(genuine, impostor, 1e-3), 3),
                    "tar@far1e-2": round(metrics.tar_at_far(genuine, impostor, 1e-2), 3),
                }
            )
    report = {
        "model_id": engine.model_id,
        "candidates": {key: round(value, 4) for key, value in candidates.items()},
        "table_thresholds": "shipped" if args.shipped else "computed",
        "identify_threshold": round(identify, 4),
        "claim_threshold": round(claim, 4),
        "margin": margin,
        "genuine_gap_quantiles": {q: round(float(np.quantile(gaps_array, q)), 4) for q in (0.01, 0.02, 0.05, 0.5)},
        "lfw_pairs": {
            "tar@identify": round(metrics.tar_at(lfw_genuine, identify), 3),
            "far@identify": metrics.far_at(lfw_impostor, identify),
            "tar@claim": round(metrics.tar_at(lfw_genuine, claim), 3),
            "far@claim": metrics.far_at(lfw_impostor, claim),
            "accuracy@claim": metrics.accuracy_at(pair_scores, lfw_pairs.same, claim),
            "accuracy@identify": metrics.accuracy_at(pair_scores, lfw_pairs.same, identify),
        },
        "no_face": {"east-asian-dev": [str(p) for p in ea_missing], "lfw-dev": [str(p) for p in lfw_missing]},
        "table": table,
    }
    print(json.dumps(report, indent=1))
    print("\n| data set | K | genuine | impostor | TAR @ identify | FAR @ identify | TAR @ claim | FAR @ claim |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        print(
            f"| {row['data set']} | {row['K']} | {row['genuine']} | {row['impostor']} | {row['tar@identify']} | "
            f"{row['far@identify']} | {row['tar@claim']} | {row['far@claim']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

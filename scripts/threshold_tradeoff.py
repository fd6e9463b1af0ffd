"""The LFW-accuracy / East-Asian-safety trade-off of one decision threshold, over a range of thresholds.

For each threshold: accuracy and FAR on the 1000 LFW View 1 dev pairs (the face nearest the centre, as
``facegate eval pairs`` picks it) and FAR / TAR over every image pair of east-asian-dev (the largest face).
Shows that no single threshold gives both dlib's LFW accuracy at its default (97.5%) and a FAR East Asian
visitors can accept. Images without a face score -1 (a non-match).

Usage:
    .venv/bin/python scripts/threshold_tradeoff.py [--model int8|fp32] [--shared DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.evaluation.datasets import read_identities, read_pairs
from facegate.evaluation.runner import default_threshold
from facegate.vision import FaceEngine
from facegate.vision.engine import Pick

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = (
    0.90,
    0.91,
    0.92,
    0.925,
    0.93,
    0.94,
    0.95,
    0.96,
    default_threshold("claim"),
    default_threshold("identify"),
)


def unit_descriptors(engine: FaceEngine, paths: list[Path], pick: Pick) -> npt.NDArray[np.float64]:
    """(N, 128) descriptors; a zero row where no face was found."""
    rows = np.zeros((len(paths), 128))
    for index, path in enumerate(paths):
        descriptor = engine.describe(path.read_bytes(), pick=pick)
        if descriptor is not None:
            rows[index] = descriptor
    return rows


def scores(
    vectors: npt.NDArray[np.float64], first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    found = vectors.any(axis=1)
    raw = np.einsum("ij,ij->i", vectors[first], vectors[second])
    return np.where(found[first] & found[second], raw, -1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--shared", default=os.environ.get("FACEGATE_SHARED_DIR", str(REPO.parent / "shared")))
    args = parser.parse_args()
    datasets = Path(args.shared) / "datasets"
    engine = FaceEngine.load(variant=args.model)

    lfw = read_pairs(datasets / "lfw-dev" / "pairsDevTest.txt", datasets / "lfw-dev")
    lfw_index = {path: number for number, path in enumerate(lfw.images)}
    lfw_vectors = unit_descriptors(engine, lfw.images, "center")
    lfw_first = np.array([lfw_index[a] for a, _ in lfw.pairs])
    lfw_second = np.array([lfw_index[b] for _, b in lfw.pairs])
    lfw_scores, lfw_same = scores(lfw_vectors, lfw_first, lfw_second), np.asarray(lfw.same)

    identities = read_identities(datasets / "east-asian-dev")
    ea_paths = [path for paths in identities.values() for path in paths]
    labels = np.array([number for number, paths in enumerate(identities.values()) for _ in paths])
    ea_first, ea_second = np.triu_indices(len(ea_paths), k=1)
    ea_scores = scores(unit_descriptors(engine, ea_paths, "largest"), ea_first, ea_second)
    ea_same = labels[ea_first] == labels[ea_second]

    print(
        f"model {engine.model_id}; {lfw_same.size} LFW pairs; east-asian-dev: {int(ea_same.sum())} genuine + "
        f"{int((~ea_same).sum())} impostor pairs"
    )
    print("threshold  LFW accuracy  LFW FAR   east-asian FAR  east-asian TAR")
    for threshold in sorted(THRESHOLDS):
        accept_lfw, accept_ea = lfw_scores >= threshold, ea_scores >= threshold
        print(
            f"{threshold:<11.3f}{np.mean(accept_lfw == lfw_same):<14.3f}{np.mean(accept_lfw[~lfw_same]):<10.4f}"
            f"{np.mean(accept_ea[~ea_same]):<16.4f}{np.mean(accept_ea[ea_same]):.3f}"
        )


if __name__ == "__main__":
    main()

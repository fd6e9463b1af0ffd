"""Measure how faithfully int8 embedders reproduce the fp32 one, on cached face chips.

Usage:
    .venv/bin/python scripts/measure_int8.py chips [--cache FILE]
    .venv/bin/python scripts/measure_int8.py eval MODEL [MODEL ...] [--cache FILE]
    .venv/bin/python scripts/measure_int8.py sweep [NAME ...] [--cache FILE] [--keep DIR]

``chips`` cuts, once, the aligned chips the project's own pipeline makes (``FaceEngine.load(variant="fp32")``,
``find_faces`` then ``chip``) for every image of the LFW View 1 dev pairs (the face nearest the centre, as
``facegate eval pairs`` picks it) and of east-asian-dev (the largest face), plus the int8 calibration chips
(:func:`~facegate.modelbuild.build.calibration_chips`, augmented), and stores them with the fp32 descriptors
in ``--cache`` (default ``/tmp/facegate-int8-chips.npz``).

``eval`` compares int8 models with ``build/models/embedder_fp32.onnx`` on those chips: decision agreement at
the shipped CLAIM (0.974) and IDENTIFY (0.980) thresholds on the 1000 LFW dev pairs and on all 24,753
east-asian-dev image pairs, largest and mean |score difference|, mean signed shift of genuine and impostor
scores, mean and smallest cosine between int8 and fp32 descriptors, and best-threshold LFW accuracy.
A pair with an image without a face scores -1 for both models (as in tests/integration/test_engine_api.py).

``sweep`` builds int8 candidates (:data:`CANDIDATES`, or the NAMEs given) from the cached calibration chips
with :func:`~facegate.modelbuild.quantize.quantize_embedder` and evaluates each; ``--keep DIR`` keeps the
models (``int8_<NAME>.onnx``) for timing with ``scripts/bench_embedder.py --extra NAME=PATH``. Embedding
uses one onnxruntime thread.

Data sets are read from ``$FACEGATE_SHARED_DIR`` (default: the repository's sibling ``../shared``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.evaluation.datasets import read_identities, read_pairs
from facegate.evaluation.runner import default_threshold
from facegate.modelbuild.quantize import ALL_INT8_SETTINGS, DEFAULT_SETTINGS, QuantSettings
from facegate.vision.embedder import CHIP_SIZE, Embedder
from facegate.vision.engine import Pick, l2_normalise

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "facegate-int8-chips.npz"
FP32_MODEL = REPO / "build" / "models" / "embedder_fp32.onnx"
EMBED_BATCH = 16
CUTS = (default_threshold("claim"), default_threshold("identify"))

MIXED = DEFAULT_SETTINGS.float_parts
CANDIDATES: dict[str, QuantSettings] = {
    "all-int8-h2": ALL_INT8_SETTINGS,
    "all-int8-h2-qdq": dataclasses.replace(ALL_INT8_SETTINGS, quant_format="QDQ"),
    "all-int8-h2-reduce-range": dataclasses.replace(ALL_INT8_SETTINGS, reduce_range=True),
    "all-int8-h1.5": dataclasses.replace(ALL_INT8_SETTINGS, range_headroom=1.5, last_stage_headroom=1.5),
    "all-int8-h1.25-2.5": QuantSettings(float_parts=()),
    "fc-h2": dataclasses.replace(ALL_INT8_SETTINGS, float_parts=("fc",)),
    "last-block-h2": dataclasses.replace(ALL_INT8_SETTINGS, float_parts=("last_block",)),
    "shortcuts+last-block": QuantSettings(float_parts=("shortcuts", "last_block")),
    "default": DEFAULT_SETTINGS,
    "default-h2": dataclasses.replace(DEFAULT_SETTINGS, range_headroom=2.0, last_stage_headroom=2.0),
    "default-h1.5-3": dataclasses.replace(DEFAULT_SETTINGS, range_headroom=1.5, last_stage_headroom=3.0),
    "default-qdq": dataclasses.replace(DEFAULT_SETTINGS, quant_format="QDQ"),
    "default+last-stage": dataclasses.replace(DEFAULT_SETTINGS, float_parts=(*MIXED, "last_stage")),
}
"""Named int8 settings for ``sweep``."""


def shared_dir() -> Path:
    return Path(os.environ.get("FACEGATE_SHARED_DIR") or REPO.parent / "shared")


def cut_chips(paths: Sequence[Path], pick: Pick) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Chips (N, 150, 150, 3) of the picked face of every image (zeros where none) and a found-mask."""
    from facegate.vision.engine import FaceEngine, pick_face

    engine = FaceEngine.load(REPO / "build" / "models", variant="fp32")
    chips = np.zeros((len(paths), CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    found = np.zeros(len(paths), dtype=np.bool_)
    for index, path in enumerate(paths):
        decoded = engine.decode(path.read_bytes())
        detections = engine.find_faces(decoded)
        if detections:
            height, width = decoded.rgb.shape[:2]
            chips[index] = engine.chip(decoded.rgb, pick_face(detections, width, height, pick))
            found[index] = True
    return chips, found


def descriptors(model: Path, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Flip-averaged unit descriptors (N, 128), as ``FaceEngine.descriptors`` makes them, one thread."""
    embedder = Embedder(model, threads=1)
    out = []
    for start in range(0, len(chips), EMBED_BATCH):
        batch = chips[start : start + EMBED_BATCH]
        raw = embedder.embed(np.ascontiguousarray(np.concatenate([batch, batch[:, :, ::-1]])))
        out.append(l2_normalise(raw[: len(batch)] + raw[len(batch) :]))
    return np.concatenate(out)


def make_cache(cache: Path) -> None:
    from facegate.modelbuild.build import calibration_chips
    from facegate.modelbuild.quantize import augment_calibration_chips

    shared = shared_dir()
    lfw = read_pairs(shared / "datasets" / "lfw-dev" / "pairsDevTest.txt", shared / "datasets" / "lfw-dev")
    lfw_images = lfw.images
    index = {path: number for number, path in enumerate(lfw_images)}
    lfw_pairs = np.array([(index[a], index[b]) for a, b in lfw.pairs], dtype=np.int64)
    identities = read_identities(shared / "datasets" / "east-asian-dev")
    ea_images = [path for paths in identities.values() for path in paths]
    ea_labels = np.array([number for number, paths in enumerate(identities.values()) for _ in paths])
    start = time.perf_counter()
    lfw_chips, lfw_found = cut_chips(lfw_images, "center")
    ea_chips, ea_found = cut_chips(ea_images, "largest")
    calibration = calibration_chips(REPO / "build" / "models", REPO / "build" / "cache")
    print(f"cut {len(lfw_images)} LFW + {len(ea_images)} east-asian-dev chips in {time.perf_counter() - start:.0f} s")
    missing = f"LFW {int((~lfw_found).sum())}, east-asian-dev {int((~ea_found).sum())}"
    print(f"no face: {missing}; {len(calibration)} calibration faces")
    np.savez_compressed(
        cache,
        lfw_chips=lfw_chips,
        lfw_found=lfw_found,
        lfw_pairs=lfw_pairs,
        lfw_same=lfw.same,
        ea_chips=ea_chips,
        ea_found=ea_found,
        ea_labels=ea_labels,
        calibration=calibration,
        calibration_augmented=augment_calibration_chips(calibration),
        lfw_fp32=descriptors(FP32_MODEL, lfw_chips),
        ea_fp32=descriptors(FP32_MODEL, ea_chips),
    )
    print(f"wrote {cache}")


def pair_scores(
    vectors: npt.NDArray[np.float32], found: npt.NDArray[np.bool_], pairs: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    a, b = pairs[:, 0], pairs[:, 1]
    scores = np.einsum("ij,ij->i", vectors[a].astype(np.float64), vectors[b].astype(np.float64))
    return np.where(found[a] & found[b], scores, -1.0)


def best_threshold_correct(scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_]) -> int:
    """The most pairs any single threshold classifies right (same = score >= threshold)."""
    order = np.sort(np.unique(scores))
    cuts = np.concatenate([[order[0] - 1.0], (order[:-1] + order[1:]) / 2.0, [order[-1] + 1.0]])
    return int(((scores[None, :] >= cuts[:, None]) == same[None, :]).sum(axis=1).max())


def compare(
    name: str,
    reference: npt.NDArray[np.float32],
    candidate: npt.NDArray[np.float32],
    found: npt.NDArray[np.bool_],
    pairs: npt.NDArray[np.int64],
    same: npt.NDArray[np.bool_],
) -> dict[str, float]:
    fp32, int8 = pair_scores(reference, found, pairs), pair_scores(candidate, found, pairs)
    diff = int8 - fp32
    cosines = np.einsum("ij,ij->i", reference[found], candidate[found])
    row = (
        {f"{name} flips@{cut}": float(np.sum((fp32 >= cut) != (int8 >= cut))) for cut in CUTS}
        | {f"{name} agree@{cut}": float(np.mean((fp32 >= cut) == (int8 >= cut))) for cut in CUTS}
        | {
            f"{name} max|d|": float(np.abs(diff).max()),
            f"{name} mean|d|": float(np.abs(diff).mean()),
            f"{name} shift gen": float(diff[same].mean()),
            f"{name} shift imp": float(diff[~same].mean()),
            f"{name} cos mean": float(cosines.mean()),
            f"{name} cos min": float(cosines.min()),
        }
    )
    if name == "lfw":
        row["lfw acc fp32"] = best_threshold_correct(fp32, same) / same.size
        row["lfw acc int8"] = best_threshold_correct(int8, same) / same.size
    return row


class Evaluator:
    """The cached chips and fp32 descriptors, and the pair lists derived from them."""

    def __init__(self, cache: Path) -> None:
        with np.load(cache) as data:
            self.data = {key: data[key] for key in data.files}
        labels = self.data["ea_labels"]
        first, second = np.triu_indices(len(labels), k=1)
        self.ea_pairs = np.stack([first, second], axis=1).astype(np.int64)
        self.ea_same = labels[first] == labels[second]

    def evaluate(self, model: Path) -> dict[str, float]:
        d = self.data
        lfw = descriptors(model, d["lfw_chips"])
        ea = descriptors(model, d["ea_chips"])
        return compare("lfw", d["lfw_fp32"], lfw, d["lfw_found"], d["lfw_pairs"], d["lfw_same"]) | compare(
            "ea", d["ea_fp32"], ea, d["ea_found"], self.ea_pairs, self.ea_same
        )


def report(label: str, row: dict[str, float]) -> None:
    """Print one model's numbers: flips and agreement at each of :data:`CUTS` (claim/identify), etc."""
    lines = []
    for name, title in (("lfw", "LFW"), ("ea", "EA")):
        flips = "/".join(f"{row[f'{name} flips@{cut}']:.0f}" for cut in CUTS)
        agree = "/".join(f"{row[f'{name} agree@{cut}']:.4f}" for cut in CUTS)
        line = (
            f"{title} flips {flips} agree {agree} max|d| {row[f'{name} max|d|']:.4f} "
            f"mean|d| {row[f'{name} mean|d|']:.5f} shift gen {row[f'{name} shift gen']:+.5f} "
            f"imp {row[f'{name} shift imp']:+.5f} "
            f"cos mean {row[f'{name} cos mean']:.6f} min {row[f'{name} cos min']:.5f}"
        )
        if name == "lfw":
            line += f" best-threshold acc fp32 {row['lfw acc fp32']:.3f} int8 {row['lfw acc int8']:.3f}"
        lines.append(line)
    print(f"{label}\n  " + "\n  ".join(lines), flush=True)


def sweep(evaluator: Evaluator, names: Sequence[str], keep: Path | None) -> None:
    from facegate.modelbuild.quantize import quantize_embedder

    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization advises at WARNING on the root logger
    chips = evaluator.data["calibration_augmented"]
    with tempfile.TemporaryDirectory(prefix="facegate-int8-") as tmp:
        for name in names or list(CANDIDATES):
            settings = CANDIDATES[name]
            out = (keep or Path(tmp)) / f"int8_{name}.onnx"
            start = time.perf_counter()
            quantize_embedder(FP32_MODEL, out, chips, settings=settings)
            built = time.perf_counter() - start
            report(f"{name} (built in {built:.0f} s): {settings}", evaluator.evaluate(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("chips", "eval", "sweep"))
    parser.add_argument("args", nargs="*", help="models (eval) or candidate names (sweep)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--keep", type=Path, help="sweep: write the candidate models here")
    options = parser.parse_args()
    if options.command == "chips":
        make_cache(options.cache)
        return
    evaluator = Evaluator(options.cache)
    if options.command == "eval":
        for model in options.args:
            report(str(model), evaluator.evaluate(Path(model)))
    else:
        sweep(evaluator, options.args, options.keep)


if __name__ == "__main__":
    main()

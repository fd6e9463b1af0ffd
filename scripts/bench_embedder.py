"""Benchmark the embedder models: ms per chip on one thread, model size, load time.

Usage:
    .venv/bin/python scripts/bench_embedder.py [--model-dir DIR] [--runs 200] [--extra NAME=PATH ...]

DIR (default ``$FACEGATE_MODEL_DIR``, else ``build/models``) must hold ``embedder_fp32.onnx`` and
``embedder_int8.onnx``. Chips are synthetic (seeded noise on a smooth gradient): the network's
cost does not depend on the picture. Batch 2 is the engine's case (a chip and its mirror image).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.vision.embedder import CHIP_SIZE, Embedder

LOADS = 5


def synthetic_chips(count: int) -> npt.NDArray[np.uint8]:
    """Deterministic uint8 (count, 150, 150, 3) chips."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(40, 200, CHIP_SIZE, dtype=np.float32)
    base = ramp[None, :, None, None] * np.ones((count, 1, CHIP_SIZE, 3), dtype=np.float32)
    noise = rng.normal(0, 20, size=(count, CHIP_SIZE, CHIP_SIZE, 3))
    return np.clip(base.transpose(0, 2, 1, 3) + noise, 0, 255).astype(np.uint8)


def call_ms(embedder: Embedder, chips: npt.NDArray[np.uint8], runs: int) -> tuple[float, float]:
    """Median and minimum wall time of one ``embed`` call in milliseconds, after 10 warm-up calls."""
    for _ in range(10):
        embedder.embed(chips)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        embedder.embed(chips)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3


def load_ms(path: Path) -> float:
    """Median time to create the session (single thread), milliseconds."""
    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        Embedder(path, threads=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = Path(os.environ.get("FACEGATE_MODEL_DIR", "build/models"))
    parser.add_argument("--model-dir", type=Path, default=default_dir)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH", help="another model to time")
    args = parser.parse_args()

    models = {
        "fp32": args.model_dir / "embedder_fp32.onnx",
        "int8": args.model_dir / "embedder_int8.onnx",
    }
    for item in args.extra:
        name, _, path = item.partition("=")
        models[name] = Path(path)
    missing = [str(path) for path in models.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"missing model files: {', '.join(missing)}")

    chips = synthetic_chips(2)
    print(f"ms per chip, 1 thread, median (min) of {args.runs} calls; load = session creation")
    print(f"{'model':10s} {'size MB':>8s} {'load ms':>8s} {'batch 1':>14s} {'batch 2':>14s}")
    for name, path in models.items():
        embedder = Embedder(path, threads=1)
        b1_median, b1_min = call_ms(embedder, chips[:1], args.runs)
        b2_median, b2_min = (value / 2 for value in call_ms(embedder, chips, args.runs))
        size = path.stat().st_size / 1e6
        batch1, batch2 = f"{b1_median:7.2f} ({b1_min:4.2f})", f"{b2_median:7.2f} ({b2_min:4.2f})"
        print(f"{name:10s} {size:8.2f} {load_ms(path):8.1f} {batch1} {batch2}", flush=True)


if __name__ == "__main__":
    main()

"""Engine speed: medians per stage on one thread, whole image → template, load time, vs dlib.

A benchmark prints numbers; nothing here asserts a time.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from facegate.errors import FacegateError
from facegate.vision.engine import FaceEngine, pick_face
from facegate.vision.pipeline import FLIP_AVERAGE
from facegate_tools.engine import load_engine

LOAD_PROBE = """
import json, sys, time
from facegate_tools.engine import load_engine
image = open(sys.argv[1], "rb").read()
started = time.perf_counter()
engine = load_engine()
loaded = time.perf_counter()
engine.probe_template(image)
done = time.perf_counter()
print(json.dumps({"load_ms": (loaded - started) * 1000, "load_and_first_inference_ms": (done - started) * 1000}))
"""


def timed(function: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def _median(samples: Sequence[float]) -> float:
    return round(statistics.median(samples), 3)


def cold_load(image: Path, repeats: int = 3) -> dict[str, float]:
    """``load_engine()`` and the first inference in fresh processes (medians, ms; imports excluded)."""
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(repeats):
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-c", LOAD_PROBE, str(image)], capture_output=True, text=True, check=True, env=env
        )
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return {key: _median([r[key] for r in results]) for key in results[0]}


def engine_bench(images: Sequence[Path], runs: int, vs_dlib: bool) -> dict[str, Any]:
    """Per-stage medians over ``images`` x ``runs`` (one thread)."""
    blobs = [path.read_bytes() for path in images]
    engine = load_engine(threads=1)
    stages: dict[str, list[float]] = {
        key: [] for key in ("decode", "detect", "refine", "align", "quality_chip", "embed", "image_to_template")
    }
    for data in blobs:
        decoded = engine.decode(data)
        faces = engine.find_faces(decoded)
        try:
            engine.probe_template(data)
        except FacegateError:
            continue  # no usable face (e.g. a turned head): not a speed sample
        height, width = decoded.rgb.shape[:2]
        face = engine.refine(decoded.rgb, pick_face(faces, width, height, "largest"))
        chip = engine.chip(decoded.rgb, face)[None]
        stages["decode"] += timed(partial(engine.decode, data), runs)
        stages["detect"] += timed(partial(engine.find_faces, decoded), runs)
        stages["refine"] += timed(partial(engine.refine, decoded.rgb, face), runs)
        stages["align"] += timed(partial(engine.chip, decoded.rgb, face), runs)
        stages["quality_chip"] += timed(partial(engine.quality_chip, decoded.rgb, face), runs)
        stages["embed"] += timed(partial(engine.embedder.embed, chip), runs)
        stages["image_to_template"] += timed(partial(engine.probe_template, data), runs)
    sizes = sorted({image_size(data) for data in blobs})
    whole = stages["image_to_template"]
    report: dict[str, Any] = {
        "images": len(blobs),
        "images_timed": len(whole) // runs,
        "image_sizes": [f"{w}x{h}" for w, h in sizes[:5]],
        "runs_per_image": runs,
        "threads": 1,
        "median_ms": {key: _median(values) for key, values in stages.items()},
        "flip_average": FLIP_AVERAGE,
        "liveness": liveness_bench(engine, blobs, runs),
        "load": cold_load(images[0]),
        "model_id": engine.model_id,
        "cpu": _cpu_name(),
    }
    if vs_dlib:
        from facegate_tools.evaluation.dlib_reference import DlibPipeline

        reference = DlibPipeline(pick="largest")
        dlib_whole = []
        for data in blobs:
            dlib_whole += timed(partial(reference.describe, data), max(1, runs // 2))
        report["dlib_median_ms"] = {"image_to_descriptor": _median(dlib_whole)}
        report["speedup_vs_dlib"] = round(statistics.median(dlib_whole) / statistics.median(whole), 2)
    return report


LIVENESS_SEEN = 200
"""Fingerprints of earlier challenges the replay check scans in the liveness benchmark."""


def liveness_bench(engine: FaceEngine, blobs: Sequence[bytes], runs: int) -> dict[str, Any]:
    """Time the liveness checks add per frame beyond embedding (ms, one thread): the chip's fingerprint, and a
    three-step challenge's :func:`~facegate.vision.liveness.check_challenge` over three frames (with their replay
    keys), divided by three.
    The thresholds are opened so that every check runs (a refused challenge stops early), with
    :data:`LIVENESS_SEEN` earlier fingerprints to scan."""
    import random

    from facegate.vision.liveness import FrameObservation, LivenessThresholds, Movement, check_challenge, fingerprint

    seen = [random.Random(0).getrandbits(64) for _ in range(LIVENESS_SEEN)]
    every_check = LivenessThresholds(
        min_yaw_change=-math.inf,
        min_pitch_change=-math.inf,
        min_parallax=-math.inf,
        duplicate_hamming=-1,
        replay_hamming=-1,
        min_consistency=-1.0,
    )
    steps = (Movement.STRAIGHT, Movement.LEFT, Movement.UP)
    observed = []
    for data in blobs:
        try:
            ((face, descriptor, chip),) = engine.observe([data])
        except FacegateError:
            continue
        observed.append((face.landmarks, descriptor, chip))
    fingerprints: list[float] = []
    checks: list[float] = []
    for index in range(len(observed) - 2):
        triple = observed[index : index + 3]
        for _, _, chip in triple:
            fingerprints += timed(partial(fingerprint, chip), runs)
        frames = [FrameObservation(lm, d, fingerprint(c), step) for step, (lm, d, c) in enumerate(triple)]
        checks += [t / 3.0 for t in timed(partial(check_challenge, steps, frames, seen, every_check), runs)]
    if not checks:
        return {"frames": 0}
    return {
        "frames": len(observed),
        "fingerprint_ms": _median(fingerprints),
        "checks_per_frame_ms": _median(checks),
        "per_frame_ms": round(statistics.median(fingerprints) + statistics.median(checks), 3),
        "what": "fingerprint + check_challenge / 3 (3 steps, 1 frame each, every check run, "
        f"{LIVENESS_SEEN} earlier fingerprints); beyond the embedding",
    }


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def default_images(shared: Path, count: int) -> list[Path]:
    """The first ``count`` images of LFW dev (sorted), a fixed, reproducible set."""
    root = shared / "datasets" / "lfw-dev"
    paths = sorted(root.glob("*/*.jpg"))
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(paths), size=min(count, len(paths)), replace=False))
    return [paths[int(i)] for i in chosen]

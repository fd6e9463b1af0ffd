"""Engine speed: medians per stage on one thread, whole image → template, load time, vs dlib.

A benchmark prints numbers; nothing here asserts a time.
"""

from __future__ import annotations

import json
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

LOAD_PROBE = """
import json, sys, time
from facegate.vision.engine import FaceEngine
image = open(sys.argv[1], "rb").read()
started = time.perf_counter()
engine = FaceEngine.load(variant=sys.argv[2])
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


def cold_load(image: Path, variant: str, repeats: int = 3) -> dict[str, float]:
    """``FaceEngine.load()`` and the first inference in fresh processes (medians, ms; imports excluded)."""
    results = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(repeats):
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-c", LOAD_PROBE, str(image), variant], capture_output=True, text=True, check=True, env=env
        )
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return {key: _median([r[key] for r in results]) for key in results[0]}


def engine_bench(images: Sequence[Path], runs: int, vs_dlib: bool) -> dict[str, Any]:
    """Per-stage medians over ``images`` x ``runs`` (one thread)."""
    blobs = [path.read_bytes() for path in images]
    engines = {variant: FaceEngine.load(variant=variant, threads=1) for variant in ("int8", "fp32")}
    engine = engines["int8"]
    decode, detect, align, embed_fp32, embed_int8, whole_int8, whole_fp32 = ([] for _ in range(7))
    for data in blobs:
        decoded = engine.decode(data)
        faces = engine.find_faces(decoded)
        try:
            engine.probe_template(data)
        except FacegateError:
            continue  # no usable face (e.g. a turned head): not a speed sample
        height, width = decoded.rgb.shape[:2]
        face = pick_face(faces, width, height, "largest")
        chip = engine.chip(decoded.rgb, face)[None]
        decode += timed(partial(engine.decode, data), runs)
        detect += timed(partial(engine.find_faces, decoded), runs)
        align += timed(partial(engine.chip, decoded.rgb, face), runs)
        embed_int8 += timed(partial(engines["int8"].embedder.embed, chip), runs)
        embed_fp32 += timed(partial(engines["fp32"].embedder.embed, chip), runs)
        whole_int8 += timed(partial(engines["int8"].probe_template, data), runs)
        whole_fp32 += timed(partial(engines["fp32"].probe_template, data), runs)
    sizes = sorted({image_size(data) for data in blobs})
    report: dict[str, Any] = {
        "images": len(blobs),
        "images_timed": len(decode) // runs,
        "image_sizes": [f"{w}x{h}" for w, h in sizes[:5]],
        "runs_per_image": runs,
        "threads": 1,
        "median_ms": {
            "decode": _median(decode),
            "detect": _median(detect),
            "align": _median(align),
            "embed_fp32_per_chip": _median(embed_fp32),
            "embed_int8_per_chip": _median(embed_int8),
            "image_to_template_int8": _median(whole_int8),
            "image_to_template_fp32": _median(whole_fp32),
        },
        "flip_average": "image_to_template embeds the chip and its mirror (2 chips)",
        "load": cold_load(images[0], "int8"),
        "model_id": engine.model_id,
        "cpu": _cpu_name(),
    }
    if vs_dlib:
        from facegate.evaluation.dlib_reference import DlibPipeline

        reference = DlibPipeline(pick="largest")
        dlib_whole = []
        for data in blobs:
            dlib_whole += timed(partial(reference.describe, data), max(1, runs // 2))
        report["dlib_median_ms"] = {"image_to_descriptor": _median(dlib_whole)}
        report["speedup_vs_dlib"] = {
            "int8": round(statistics.median(dlib_whole) / statistics.median(whole_int8), 2),
            "fp32": round(statistics.median(dlib_whole) / statistics.median(whole_fp32), 2),
        }
    return report


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

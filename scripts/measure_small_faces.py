"""YuNet vs MTCNN on small faces and on the edge set: how often the person of interest is still found.

    .venv/bin/python scripts/measure_small_faces.py --mtcnn-dir DIR

Small faces: 300 LFW dev images (seeded) scaled down so the face box is about 60, 40, 30, 24 and 20 px
(LFW faces are about 110 px in the 250 px crop), and a face counts as found when a detection's centre lies
within a quarter box of the original face's centre. Edge set: faces each detector reports (score >= 0.5
for YuNet as the engine uses it, MTCNN's own thresholds) and whether the enrollment verdicts would differ.
``--mtcnn-dir`` is made by ``scripts/measure_engine_v2.py --build-mtcnn DIR``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image

from facegate.vision.decode import decode_image
from facegate.vision.engine import pick_face
from facegate_tools.engine import load_engine
from facegate_tools.evaluation.mtcnn_detector import MtcnnDetector

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtcnn-dir", type=Path, required=True)
    args = parser.parse_args()
    engine = load_engine()
    mtcnn = MtcnnDetector(*(args.mtcnn_dir / f"mtcnn_{s}.onnx" for s in ("pnet", "rnet", "onet")))
    detectors = {
        "yunet": lambda rgb, min_px: engine.detector.detect(rgb, min_face_px=min_px, score_threshold=0.5),
        "mtcnn": lambda rgb, min_px: mtcnn.detect(rgb, min_face_px=min_px),
    }
    paths = sorted((SHARED / "lfw-dev").glob("*/*.jpg"))
    sample = random.Random(3).sample(paths, 300)
    references = []
    for path in sample:
        rgb = decode_image(path.read_bytes()).rgb
        faces = engine.detector.detect(rgb, min_face_px=20.0)
        if faces:
            height, width = rgb.shape[:2]
            references.append((rgb, pick_face(faces, width, height, "center")))
    median_box = np.median([face.box.height for _, face in references])
    print(f"{len(references)} LFW dev images with a reference face (median box {median_box:.0f} px)")
    for target in (60, 40, 30, 24, 20, 16):
        found = dict.fromkeys(detectors, 0)
        for rgb, face in references:
            scale = target / face.box.height
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
            cx, cy = face.box.center[0] * scale, face.box.center[1] * scale
            for name, detect in detectors.items():
                hits = detect(small, 12.0)
                if any(np.hypot(d.box.center[0] - cx, d.box.center[1] - cy) < target / 4 for d in hits):
                    found[name] += 1
        print(f"face ~{target} px: " + ", ".join(f"{n} {c / len(references):.3f}" for n, c in found.items()))
    for path in sorted((SHARED / "edge").iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        rgb = decode_image(path.read_bytes()).rgb
        counts = {name: len(detect(rgb, 20.0)) for name, detect in detectors.items()}
        print(f"edge {path.name}: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

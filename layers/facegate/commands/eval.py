"""``facegate eval pairs|identities``: accuracy, TAR at FAR, and rates at the shipped thresholds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="measure accuracy on a data set")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")

    pairs = kinds.add_parser("pairs", help="LFW-format pairs file (header '10<TAB>300' or '500')")
    pairs.add_argument("--pairs", type=Path, required=True, help="pairs file")
    pairs.add_argument("--root", type=Path, required=True, help="image root: <root>/<name>/<name>_<nnnn>.jpg")
    pairs.add_argument("--model", choices=("fp32", "int8"), default="int8")
    pairs.add_argument(
        "--mode",
        choices=("claim", "identify"),
        default="claim",
        help="shipped threshold for the *_at_default_threshold keys (pairs are 1:1: default claim)",
    )
    pairs.add_argument(
        "--pick",
        choices=("center", "largest"),
        default="center",
        help="which face of an image is the person of interest (LFW: nearest the centre)",
    )
    pairs.add_argument("--json", action="store_true")
    pairs.add_argument("--plot", type=Path, help="write a ROC curve (PNG)")
    pairs.add_argument(
        "--vs-dlib",
        action="store_true",
        help="also run dlib-bin's face_recognition-style pipeline on the same pairs (needs dlib-bin)",
    )
    pairs.set_defaults(run=run_pairs)

    identities = kinds.add_parser("identities", help="folder-per-identity data set")
    identities.add_argument("--root", type=Path, required=True)
    identities.add_argument("--model", choices=("fp32", "int8"), default="int8")
    identities.add_argument(
        "--enroll-images",
        type=int,
        default=1,
        choices=range(1, 6),
        metavar="K",
        help="images fused into each identity's template (1-5, default 1)",
    )
    identities.add_argument("--mode", choices=("identify", "claim"), default="identify")
    identities.add_argument("--threshold", type=float, help="override the shipped threshold of --mode")
    identities.add_argument("--pick", choices=("center", "largest"), default="largest")
    identities.add_argument("--json", action="store_true")
    identities.add_argument(
        "--vs-dlib", action="store_true", help="also run dlib-bin's pipeline (distance, default 0.6) on the same images"
    )
    identities.set_defaults(run=run_identities)


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if not isinstance(value, list):
            print(f"{key:32s} {value}")


def run_pairs(args: argparse.Namespace) -> int:
    from facegate.evaluation.datasets import read_pairs
    from facegate.evaluation.runner import engine_describer, evaluate_pairs
    from facegate.vision.engine import FaceEngine

    engine = FaceEngine.load(variant=args.model)
    pairs = read_pairs(args.pairs, args.root)
    scores: list[float] = []
    report = evaluate_pairs(pairs, engine_describer(engine, args.pick), engine.model_id, args.mode, scores)
    if args.plot:
        from facegate.evaluation.plots import roc_plot

        roc_plot(scores, pairs.same.tolist(), args.plot, f"ROC on {args.pairs.name} ({engine.model_id})")
        report["plot"] = str(args.plot)
    if args.vs_dlib:
        from facegate.evaluation.dlib_reference import DLIB_DEFAULT_DISTANCE, DlibPipeline, dlib_similarity

        reference = DlibPipeline(pick="largest")
        dlib_report = evaluate_pairs(
            pairs,
            reference.describe,
            "dlib-bin face_recognition-style (HOG x1, largest face, 5-point)",
            similarity=dlib_similarity,
            threshold=-DLIB_DEFAULT_DISTANCE,
            missing_score=-10.0,
        )
        dlib_report["default_threshold"] = f"distance {DLIB_DEFAULT_DISTANCE}"
        report["dlib"] = dlib_report
        report["vs_dlib"] = {
            "accuracy_delta": round(report["accuracy"] - dlib_report["accuracy"], 6),
            "accuracy_at_default_threshold_delta": round(
                report["accuracy_at_default_threshold"] - dlib_report["accuracy_at_default_threshold"], 6
            ),
            "seconds_ratio": round(dlib_report["seconds"] / max(report["seconds"], 1e-9), 2),
        }
    _print(report, args.json)
    return 0


def run_identities(args: argparse.Namespace) -> int:
    from facegate.evaluation.runner import engine_describer, evaluate_identities
    from facegate.vision.engine import FaceEngine

    engine = FaceEngine.load(variant=args.model)
    report = evaluate_identities(
        args.root, engine_describer(engine, args.pick), engine.model_id, args.enroll_images, args.mode, args.threshold
    )
    if args.vs_dlib:
        import numpy as np

        from facegate.evaluation.dlib_reference import DLIB_DEFAULT_DISTANCE, DlibPipeline
        from facegate.evaluation.runner import negative_distance_matrix

        reference = DlibPipeline(pick="largest")
        report["dlib"] = evaluate_identities(
            args.root,
            reference.describe,
            "dlib-bin face_recognition-style (HOG x1, largest face, 5-point)",
            args.enroll_images,
            args.mode,
            -DLIB_DEFAULT_DISTANCE,
            negative_distance_matrix,
            lambda vectors: np.mean(vectors, axis=0).astype(np.float32),
        )
        report["dlib"]["default_threshold"] = f"distance {DLIB_DEFAULT_DISTANCE}"
    _print(report, args.json)
    return 0

"""``facegate eval pairs|identities|door|liveness``: accuracy, TAR at FAR, rates at the door policy's thresholds,
the whole door simulated, and the liveness checks against generated presentation attacks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from facegate_tools.engine import load_engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="measure accuracy on a data set")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")

    pairs = kinds.add_parser("pairs", help="LFW-format pairs file (header '10<TAB>300' or '500')")
    pairs.add_argument("--pairs", type=Path, required=True, help="pairs file")
    pairs.add_argument("--root", type=Path, required=True, help="image root: <root>/<name>/<name>_<nnnn>.jpg")
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

    door = kinds.add_parser(
        "door",
        help="the whole door simulated with the door policy: visitors, strangers, stolen codes, per door size N",
    )
    door.add_argument("--gallery", type=Path, required=True, help="folder per identity: the visitors")
    door.add_argument("--strangers", type=Path, help="folder per identity, never enrolled (default: gallery halves)")
    door.add_argument("--distractors", type=Path, help="folder per identity, enrolled only to reach N")
    door.add_argument("--enroll-images", type=int, default=3, choices=range(1, 6), metavar="K", help="1-5 (3)")
    door.add_argument("--frames", type=int, default=1, choices=range(1, 4), metavar="F", help="1-3 (1)")
    door.add_argument("--sizes", default="10,100,1000", help="door sizes N, comma-separated (10,100,1000)")
    door.add_argument("--level", choices=("standard", "high"), default="standard")
    door.add_argument("--seed", type=int, default=0)
    door.add_argument("--pick", choices=("center", "largest"), default="largest", help="gallery/strangers face")
    door.add_argument("--distractor-pick", choices=("center", "largest"), default="center", help="(LFW: center)")
    door.add_argument("--json", action="store_true")
    door.set_defaults(run=run_door)

    liveness = kinds.add_parser(
        "liveness",
        help="presentation attacks built from the images (planar, still, replay, splice, bent): APCER and BPCER",
    )
    source = liveness.add_mutually_exclusive_group(required=True)
    source.add_argument("--root", type=Path, help="folder per identity: attacks and a bona fide proxy built from it")
    source.add_argument(
        "--recorded",
        type=Path,
        help="folder of recorded challenges (a field test): one folder each with steps.txt, frames <step>-*.jpg "
        "and optionally kind.txt (bona_fide or an attack label)",
    )
    liveness.add_argument("--seed", type=int, default=0)
    liveness.add_argument(
        "--max-sources", type=int, default=300, help="photos rendered per attack type, replays and splices (300)"
    )
    liveness.add_argument("--max-identities", type=int, help="only the first identities (sorted): a quick run")
    liveness.add_argument("--json", action="store_true")
    liveness.set_defaults(run=run_liveness)


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if not isinstance(value, list):
            print(f"{key:32s} {value}")


def run_pairs(args: argparse.Namespace) -> int:
    from facegate_tools.evaluation.datasets import read_pairs
    from facegate_tools.evaluation.runner import engine_describer, evaluate_pairs

    engine = load_engine()
    pairs = read_pairs(args.pairs, args.root)
    scores: list[float] = []
    report = evaluate_pairs(pairs, engine_describer(engine, args.pick), engine.model_id, args.mode, scores)
    if args.plot:
        from facegate_tools.evaluation.plots import roc_plot

        roc_plot(scores, pairs.same.tolist(), args.plot, f"ROC on {args.pairs.name} ({engine.model_id})")
        report["plot"] = str(args.plot)
    if args.vs_dlib:
        from facegate_tools.evaluation.dlib_reference import DLIB_DEFAULT_DISTANCE, DlibPipeline, dlib_similarity

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
    from facegate_tools.evaluation.runner import engine_describer, evaluate_identities

    engine = load_engine()
    report = evaluate_identities(
        args.root, engine_describer(engine, args.pick), engine.model_id, args.enroll_images, args.mode, args.threshold
    )
    if args.vs_dlib:
        import numpy as np

        from facegate_tools.evaluation.dlib_reference import DLIB_DEFAULT_DISTANCE, DlibPipeline
        from facegate_tools.evaluation.runner import negative_distance_matrix

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


def run_door(args: argparse.Namespace) -> int:
    import sys

    from facegate.domain.models import SecurityLevel
    from facegate.domain.policy import DoorPolicy, shipped_calibration
    from facegate_tools.evaluation.door import BURST_CAVEAT, cached_describer, evaluate_door, print_table

    try:
        sizes = [int(value) for value in args.sizes.split(",") if value.strip()]
    except ValueError:
        print("--sizes takes whole numbers, e.g. 10,100,1000", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 1:
        print("--sizes takes whole numbers >= 1", file=sys.stderr)
        return 2
    engine = load_engine()
    policy = DoorPolicy(shipped_calibration())
    if policy.model_id != engine.model_id:
        print(
            f"warning: the calibration is for {policy.model_id}, the engine is {engine.model_id}: "
            "run scripts/calibrate.py",
            file=sys.stderr,
        )
    print(BURST_CAVEAT, file=sys.stderr)
    report = evaluate_door(
        policy,
        cached_describer(lambda: engine, engine.model_id, Path("build/cache")),
        args.gallery,
        args.strangers,
        args.distractors,
        args.enroll_images,
        args.frames,
        sizes,
        SecurityLevel(args.level),
        args.seed,
        pick=args.pick,
        distractor_pick=args.distractor_pick,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


def run_liveness(args: argparse.Namespace) -> int:
    import sys

    from facegate_tools.evaluation.liveness import evaluate_liveness, print_table
    from facegate_tools.evaluation.recorded import RecordingError, evaluate_recorded, print_recorded, read_recordings

    if args.recorded is not None:
        if not args.recorded.is_dir():
            print(f"--recorded {args.recorded} is not a folder", file=sys.stderr)
            return 2
        try:
            recordings = read_recordings(args.recorded)
            recorded = evaluate_recorded(load_engine(), args.recorded, recordings)
        except RecordingError as error:
            print(f"--recorded: {error}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(recorded, indent=2))
        else:
            print_recorded(recorded)
        return 0
    if args.max_sources < 1 or (args.max_identities is not None and args.max_identities < 1):
        print("--max-sources and --max-identities take whole numbers >= 1", file=sys.stderr)
        return 2
    if not args.root.is_dir():
        print(f"--root {args.root} is not a folder", file=sys.stderr)
        return 2
    report = evaluate_liveness(
        load_engine(), args.root, args.seed, max_sources=args.max_sources, max_identities=args.max_identities
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0

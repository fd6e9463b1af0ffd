"""``facegate compare A B``: are two photos the same person (1:1, at the door policy's claim threshold)?

Exit codes: 0 same person, 1 different people, 2 error (unreadable file, no usable face, bad image).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facegate_tools.engine import load_engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("compare", help="compare the faces in two images (1:1)")
    parser.add_argument("image_a", type=Path)
    parser.add_argument("image_b", type=Path)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--mode",
        choices=("claim", "identify"),
        default="claim",
        help="which door-policy threshold (standard level, one image each) decides same_person "
        "(default: claim, the 1:1 threshold; identify: face alone at a door with one candidate)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facegate.errors import FacegateError
    from facegate_tools.evaluation.runner import default_threshold

    try:
        images = [path.read_bytes() for path in (args.image_a, args.image_b)]
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    engine = load_engine()
    try:
        a, b = (engine.probe_template(image) for image in images)
    except FacegateError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    similarity = engine.similarity(a, b)
    threshold = default_threshold(args.mode)
    result = {
        "similarity": round(similarity, 4),
        "same_person": similarity >= threshold,
        "threshold": threshold,
        "mode": args.mode,
        "model_id": engine.model_id,
    }
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "same person" if result["same_person"] else "different people"
        print(f"{verdict}: similarity {similarity:.4f} (threshold {threshold}, {args.mode}, {engine.model_id})")
    return 0 if result["same_person"] else 1

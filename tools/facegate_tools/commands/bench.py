"""``facegate bench``: engine speed; ``bench verify``: the door route in-process; ``bench load``: the local stack."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("FACEGATE_SHARED_DIR", "../shared"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help="speed benchmarks (print numbers)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--vs-dlib", action="store_true", help="run dlib-bin's pipeline on the same images")
    parser.add_argument("--images", type=Path, nargs="*", help="images to use (default: 40 LFW dev images)")
    parser.add_argument("--count", type=int, default=40, help="how many LFW dev images (default 40)")
    parser.add_argument("--runs", type=int, default=10, help="runs per image per stage (default 10)")
    parser.set_defaults(run=run_engine)
    kinds = parser.add_subparsers(dest="kind", required=False, metavar="KIND")

    verify = kinds.add_parser("verify", help="POST /doors/{id}/verify in-process against moto, real engine")
    verify.add_argument("--enrolled", default="1000,10000", help="comma-separated enrolled counts")
    verify.add_argument("--requests", type=int, default=200, help="verify requests per size")
    verify.add_argument("--backend", choices=("moto", "dynamodb-local", "memory"), default="moto")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(run=run_verify)

    load = kinds.add_parser("load", help="sustained verify load against the running local stack")
    load.add_argument("--seconds", type=float, default=60.0)
    load.add_argument("--concurrency", type=int, default=8)
    load.add_argument("--enrolled", type=int, default=1000)
    load.add_argument("--local-file", type=Path, default=Path(".facegate/local.json"))
    load.add_argument("--json", action="store_true")
    load.set_defaults(run=run_load)


def _emit(report: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(report, indent=2) if as_json else json.dumps(report, indent=1))


def run_engine(args: argparse.Namespace) -> int:
    from facegate_tools.benchmarks.engine import default_images, engine_bench

    images = args.images or default_images(SHARED, args.count)
    _emit(engine_bench(images, args.runs, args.vs_dlib), args.json)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from facegate_tools.benchmarks.verify import verify_bench

    sizes = [int(value) for value in args.enrolled.split(",") if value.strip()]
    _emit(verify_bench(sizes, args.requests, SHARED, args.backend), args.json)
    return 0


def run_load(args: argparse.Namespace) -> int:
    from facegate_tools.benchmarks.load import load_bench

    _emit(load_bench(args.local_file, args.seconds, args.concurrency, args.enrolled, SHARED), args.json)
    return 0

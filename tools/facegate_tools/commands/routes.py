"""``facegate routes write|check``: template.yaml's events and openapi.json generated from the routers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "routes", help="generate template.yaml's HttpApi events and openapi.json from the routers (or check them)"
    )
    parser.add_argument("action", choices=("write", "check"), help="write: regenerate in place; check: diff, exit 1")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository (holds template.yaml)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facegate_tools.routes import diffs, outputs, write

    repo: Path = args.repo.resolve()
    expected = outputs(repo)
    if args.action == "write":
        for path in write(repo, expected):
            print(f"wrote {path}")
        return 0
    found = diffs(repo, expected)
    for diff in found:
        sys.stdout.write(diff)
    if found:
        print("generated files are out of date: run `make routes`", file=sys.stderr)
        return 1
    print("template.yaml events and openapi.json agree with the routers")
    return 0

"""The ``facegate`` console script.

Each sub-command lives in :mod:`facegate_tools.commands` and imports its heavy dependencies only
when it runs, so ``facegate --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from facegate import __version__
from facegate.errors import FacegateError
from facegate_tools.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="facegate", description="facegate: face verification for building access.")
    parser.add_argument("--version", action="version", version=f"facegate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (0 ok, 1 failed check, 2 usage or typed error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except FacegateError as exc:
        print(f"facegate: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())

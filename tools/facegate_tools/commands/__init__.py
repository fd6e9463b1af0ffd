"""Sub-commands of the ``facegate`` CLI; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _commands() -> list[Register]:
    from facegate_tools.commands import backfill, bench, compare, eval, model, routes, serve

    return [
        model.register,
        compare.register,
        eval.register,
        bench.register,
        serve.register,
        routes.register,
        backfill.register,
    ]


COMMANDS: list[Register] = _commands()

"""``facegate backfill-lists``: give a deployed directory table's older items the console's list keys."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backfill-lists",
        help="one-off after upgrading a deployed stack: add the console's list keys (GSI 'lists') to sites, "
        "terminals and invites written before the console existed; safe to run again",
    )
    parser.add_argument("--table", help="the directory table's name (default: DIRECTORY_TABLE)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facegate.adapters.dynamodb import AwsClients
    from facegate.adapters.dynamodb.repository import backfill_list_keys
    from facegate.settings import Settings

    settings = Settings.from_env()
    if args.table:
        settings = settings.with_overrides(directory_table=args.table)
    clients = AwsClients.from_settings(settings)
    updated = backfill_list_keys(clients.dynamodb, settings)
    print(json.dumps({"table": settings.directory_table, "updated": updated}))
    return 0

"""``facegate serve``: the local stack (emulated AWS, the same handlers, the pages) until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import warnings
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the whole stack locally (moto, the handlers, the pages)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--backend",
        choices=("moto", "dynamodb-local"),
        default="moto",
        help="DynamoDB emulator (dynamodb-local needs Java and `make node_modules/.stamp`)",
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--state-file", type=Path, default=Path(".facegate/local.json"))
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo site, door, terminal, invite")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facegate_tools.local.stack import LocalStack, write_state

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stack = LocalStack(args.template, host=args.host, port=args.port, backend=args.backend, seed=not args.no_seed)
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"starting facegate on http://{args.host}:{args.port} (backend {args.backend}) ...", flush=True)
    try:
        state = stack.start()
        write_state(state, args.state_file)
        print(f"API            {state['api_url']}  (OpenAPI: {state['api_url']}/openapi.json)")
        if "invite" in state:
            print(f"visitor page   {state['invite']['registration_url']}")
        door = state.get("door_id", "-")
        print(f"door kiosk     {state['api_url']}/kiosk  (door {door}: pair it in the console or type its key)")
        console = state.get("console", {}).get("url", f"{state['api_url']}/console")
        print(f"console        {console}")
        for role in ("admin", "host"):
            user = state.get(role, {})
            if user.get("password"):
                print(f"  {role:<5} login  {user['username']}  password {user['password']}  (new every run)")
        print(f"mail outbox    {state['api_url']}/_local/outbox.html  (invite and arrival mail, local SES)")
        print(f"AWS emulator   {state['aws_endpoint_url']}")
        print(f"state file     {args.state_file}  (logins, admin token + refresh token, terminal key, invite)")
        print("ready — Ctrl-C stops everything", flush=True)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()
        print("stopped", flush=True)
    return 0

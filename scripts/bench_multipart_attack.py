"""CPU seconds one hostile selfie upload costs the RegisterVisitor function (issue 12, item 1).

The attack: ``POST /register/{random token}/selfie`` with a multipart body of tens of thousands of
empty parts (about 4.9 MB). The request goes through the real resolver in-process over in-memory
adapters (no storage latency, no face engine: it is never reached), and the CPU time of the process
(``time.process_time``) is measured per request. A valid-token request with the same body is measured
too: a visitor holding a real link must not be able to burn seconds either.

    .venv/bin/python scripts/bench_multipart_attack.py [--parts 87500] [--requests 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import time
from datetime import UTC, datetime, timedelta

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # one JSON line of results, not a log line per refusal
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from facegate.adapters import memory
from facegate.api.app import build_resolver
from facegate.api.catalog import ALL_ROUTERS
from facegate.api.deps import provide_services
from facegate.runtime import memory_services
from facegate.settings import Settings
from facegate.usecases.context import Services
from facegate_tools.local.inprocess import InProcessApi


def hostile_body(parts: int) -> tuple[bytes, str]:
    """``parts`` empty multipart parts under one short boundary."""
    boundary = "b"
    chunk = f'--{boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n\r\n'.encode()
    return chunk * parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _services() -> Services:
    return memory_services(Settings(), memory.MemoryFaceEngine)


def _valid_token(api: InProcessApi) -> str:
    admin = {"sub": "admin-1", "cognito:groups": "[admins]"}
    site = api.request("POST", "/sites", json_body={"name": "Bench", "timezone": "Asia/Seoul"}, claims=admin).json()
    door = api.request("POST", f"/sites/{site['site_id']}/doors", json_body={"name": "Gate"}, claims=admin).json()
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "door_ids": [door["door_id"]],
        "valid_from": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_until": (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    invite = api.request("POST", f"/sites/{site['site_id']}/invites", json_body=body, claims=admin)
    token: str = invite.json()["token"]
    return token


def measure(api: InProcessApi, token: str, body: bytes, content_type: str, requests: int) -> tuple[float, int, str]:
    """Median CPU seconds per request, the status and the error code of the last answer."""
    samples = []
    status, code = 0, ""
    for i in range(requests):
        started = time.process_time()
        response = api.request(
            "POST",
            f"/register/{token}/selfie",
            body=body,
            headers={"content-type": content_type},
            source_ip=f"198.51.100.{i + 1}",
        )
        samples.append(time.process_time() - started)
        status, code = response.status, response.error_code or ""
    samples.sort()
    return samples[len(samples) // 2], status, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=87_500)
    parser.add_argument("--requests", type=int, default=3)
    args = parser.parse_args()
    resolver = build_resolver(*ALL_ROUTERS)
    services = _services()
    resolver.dependency_overrides[provide_services] = lambda: services
    api = InProcessApi(resolver)
    body, content_type = hostile_body(args.parts)
    random_token = secrets.token_urlsafe(32)
    with contextlib.redirect_stdout(io.StringIO()):  # metrics are printed as EMF lines: keep one result line
        cpu_random, status_random, code_random = measure(api, random_token, body, content_type, args.requests)
        cpu_valid, status_valid, code_valid = measure(api, _valid_token(api), body, content_type, args.requests)
    print(
        json.dumps(
            {
                "parts": args.parts,
                "body_mb": round(len(body) / 1e6, 2),
                "random_token": {"cpu_s": round(cpu_random, 4), "status": status_random, "code": code_random},
                "valid_token": {"cpu_s": round(cpu_valid, 4), "status": status_valid, "code": code_valid},
            }
        )
    )


if __name__ == "__main__":
    main()

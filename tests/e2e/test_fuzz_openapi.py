"""API fuzzing with schemathesis against the LIVE local stack's ``/openapi.json``.

Every operation of the live document is fuzzed (positive and negative data) with valid credentials:
the admin's Bearer token on JWT routes, a real invite token in ``{token}`` paths (a fresh invite per
operation, consented for the selfie route), real site/door/terminal/invite ids, and an HMAC signature
computed over the exact bytes of every generated door request. Checks: no 5xx, documented status
codes and content types, and every response body valid against its schema.

Bounded: ``FACEGATE_FUZZ_EXAMPLES`` examples per operation (default 50), derandomised so a failure
reproduces; the whole module stays well under four minutes on two cores.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack_client import STACK_CLIENT

from facegate_client import AdminClient, VisitorClient, signature_headers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FACEGATE_FUZZ_EXAMPLES", "50"))
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
SECURITY = {
    (method.upper(), path): {name for requirement in spec.get("security") or [] for name in requirement}
    for path, item in json.loads((REPO / "openapi.json").read_text())["paths"].items()
    for method, spec in item.items()
    if method in HTTP_METHODS
}
"""Security schemes per operation of the committed openapi.json."""
OPERATIONS = sorted(SECURITY)
"""The operations of the committed openapi.json; a test checks the live document has exactly these."""


class TerminalSignature(requests.auth.AuthBase):
    """Signs the prepared request (method, path, exact body bytes, optional claim) like a door terminal."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        data = body.encode() if isinstance(body, str) else bytes(body)
        path = (request.path_url or "/").split("?", 1)[0]
        claim = request.headers.get("X-Facegate-Claim")
        try:
            signed = signature_headers(self.key_id, self.secret, request.method or "POST", path, data, claim=claim)
        except ValueError:
            request.headers.pop("X-Facegate-Claim", None)
            signed = signature_headers(self.key_id, self.secret, request.method or "POST", path, data)
        request.headers.update(signed)
        return request


@pytest.fixture(scope="module")
def fuzz_target(live_stack: dict[str, Any]) -> dict[str, Any]:
    """The live schema and the real resources substituted into each operation's path."""
    schemathesis = pytest.importorskip("schemathesis")
    api_url = live_stack["api_url"]
    token = live_stack["admin"]["token"]
    admin = AdminClient(api_url, token, **STACK_CLIENT)
    site = admin.create_site("Fuzz site", "Asia/Seoul")
    door = admin.create_door(site.site_id, "Fuzz door")
    verifier = admin.create_terminal(site.site_id, "Fuzz kiosk", [door.door_id])
    victim = admin.create_terminal(site.site_id, "Fuzz revocable kiosk", [door.door_id])
    now = datetime.now(UTC)

    def invite() -> Any:
        return admin.create_invite(site.site_id, [door.door_id], now - timedelta(minutes=1), now + timedelta(hours=2))

    tokens = {operation: invite() for operation in OPERATIONS if "{token}" in operation[1]}
    VisitorClient(tokens[("POST", "/register/{token}/selfie")].registration_url, **STACK_CLIENT).consent()
    erasable = invite()
    path_parameters: dict[tuple[str, str], dict[str, str]] = {}
    for operation in OPERATIONS:
        values = {
            "site_id": site.site_id,
            "door_id": door.door_id,
            "terminal_id": victim.terminal_id,
            "invite_id": erasable.invite_id,
        }
        if operation in tokens:
            values["token"] = str(tokens[operation].token)
        path_parameters[operation] = {name: value for name, value in values.items() if f"{{{name}}}" in operation[1]}
    return {
        "schema": schemathesis.openapi.from_url(f"{api_url}/openapi.json"),
        "admin_token": token,
        "path_parameters": path_parameters,
        "signature": TerminalSignature(verifier.key_id, verifier.secret or ""),
    }


def test_the_fuzzed_operations_are_exactly_the_live_ones(fuzz_target: dict[str, Any]) -> None:
    # Given the live document
    schema = fuzz_target["schema"]

    # When its operations are listed
    live = sorted((op.method.upper(), op.path) for op in (result.ok() for result in schema.get_all_operations()))

    # Then they are the ones this module fuzzes (a new route cannot slip past the fuzzer)
    assert live == OPERATIONS


def is_transient(response: Any) -> bool:
    """A 503 ``service_unavailable`` with Retry-After: the stack's answer when an AWS call timed out (the
    emulators stall on a loaded machine). The fuzzer sends such a request once more after Retry-After; an input
    that always gets a 503 (e.g. a parameter botocore refuses) still fails the no-5xx check."""
    if response.status_code != 503 or "retry-after" not in response.headers:
        return False
    try:
        return bool(response.json()["error"]["code"] == "service_unavailable")
    except (ValueError, KeyError, TypeError):
        return False


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_survives_fuzzing(fuzz_target: dict[str, Any], method: str, path: str) -> None:
    # Given generated requests (valid and invalid data) with valid credentials for this operation
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    operation = fuzz_target["schema"][path][method]
    credentials: dict[str, Any] = {}
    call: dict[str, Any] = {"timeout": 60}
    if "cognitoJwt" in SECURITY[(method, path)]:
        credentials["headers"] = {"Authorization": f"Bearer {fuzz_target['admin_token']}"}
    if path.startswith("/doors/"):
        call["auth"] = fuzz_target["signature"]
    variants = [{**credentials, "path_parameters": fuzz_target["path_parameters"][(method, path)]}]
    if "{token}" not in path:
        variants.append(credentials)  # generated ids too (unknown invite tokens would throttle the test host)
    cases = st.one_of(*(operation.as_strategy(mode, **variant) for variant in variants for mode in GenerationMode))
    statuses: list[int] = []
    checks: list[Callable[..., Any]] = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=cases)
    def fuzz(case: Any) -> None:
        response = case.call(**call)
        if is_transient(response):
            time.sleep(float(response.headers["retry-after"]))
            response = case.call(**call)
        case.validate_response(response, checks=checks)
        statuses.append(response.status_code)

    # When they are sent to the live stack
    fuzz()

    # Then no response was a 5xx or broke the schema (checked per request), and the credentials worked:
    # not every answer was an authentication refusal
    assert statuses, "no request was sent"
    assert any(status != 401 for status in statuses), f"every request was refused as unauthenticated: {statuses}"

"""What facegate keeps: every attribute of every item of every table, and every log line, after a full flow.

The flow uses real LFW faces, the real face engine and the real Lambda handlers (``functions/*/app.py``
with their Powertools decorators), on moto and on DynamoDB Local: two visitors are invited, read the
notice, consent, enroll three selfies each; the door grants, denies and grants by claim code; then one
visitor erases their data and a host erases the other's invite. The scans look for image bytes, plaintext
embeddings (as float arrays at any offset, against the real templates and probes), raw tokens, claim
codes, terminal secrets and unlock keys; and, after erasure, for anything still pointing at the visitors.
"""

from __future__ import annotations

import base64
import inspect
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from security_support import (
    GENUINE,
    IMPOSTOR,
    SECOND,
    TEMPLATE,
    Harness,
    ImageWindows,
    decodings,
    float_views,
    inject,
    item_leaves,
    lfw_images,
    lfw_policy,
    max_cosine,
    real_engine,
    scan_all,
    template_encodings,
)

from facegate.api.app import lambda_entry
from facegate.api.observability import logger as powertools_logger
from facegate.security import envelope
from facegate.security.tokens import decode_key, hash_token
from facegate_tools.local.aws import load_template

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

COSINE_LIMIT = 0.99
IMAGE_MAGICS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
AUDIT_ATTRIBUTES = {
    "pk", "sk", "event_id", "kind", "at", "actor", "door_id", "terminal_id", "visitor_id", "decision", "reason",
    "mode", "similarity", "threshold", "model_id", "latency_ms", "details", "expires_at",
}  # fmt: skip
ERASED_INVITE = {
    "pk", "sk", "kind", "invite_id", "site_id", "door_ids", "valid_from", "valid_until", "token_hash",
    "created_at", "created_by", "display_name", "erased_at", "rev", "expires_at", "list_pk", "list_sk",
}  # fmt: skip
"""What an invite item may still hold after the visitor erased their data (no consent, claim code, enrollment
or arrival time; ``list_pk``/``list_sk`` are the console list's keys: the site and the creation time, both
kept anyway); a host's erasure also revokes it and drops the display name."""
REVOKED_INVITE = (ERASED_INVITE - {"display_name"}) | {"revoked_at"}
TOKEN_ITEM = {"pk", "sk", "kind", "invite_id", "expires_at"}


# --------------------------------------------------------------------------------------- capture


class LogCapture:
    """Every line the functions log: the Powertools Logger's JSON lines (its handler's stream redirected
    here, level DEBUG), and the records of every other logger at WARNING and above (what Lambda's root
    logger emits by default)."""

    def __init__(self) -> None:
        self.powertools = io.StringIO()
        self.records: list[str] = []
        self._handler = logging.Handler(level=logging.DEBUG)
        self._handler.emit = self._emit  # type: ignore[method-assign]
        self._saved: tuple[Any, int] | None = None

    def _emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("facegate") or record.levelno >= logging.WARNING:
            message = record.getMessage()
            self.records.append(f"{record.name} {record.levelname} {message} {record.__dict__}")

    def __enter__(self) -> LogCapture:
        handler = powertools_logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        self._saved = (handler.setStream(self.powertools), powertools_logger.log_level)
        powertools_logger.setLevel("DEBUG")
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger().removeHandler(self._handler)
        assert self._saved is not None
        stream, level = self._saved
        handler = powertools_logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        powertools_logger.setLevel(level)

    def text(self) -> str:
        return self.powertools.getvalue() + "\n".join(self.records)


# --------------------------------------------------------------------------------------- the flow


@dataclass
class Flow:
    """Everything the flow produced and everything that must never be stored or logged."""

    backend: Any
    h: Harness | None
    images: list[bytes] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    binary_secrets: dict[str, bytes] = field(default_factory=dict)
    visitors: dict[str, dict[str, Any]] = field(default_factory=dict)
    before: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    after: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logs: str = ""


def _require_dynamodb(backend: Any) -> None:
    if not backend.is_dynamodb:
        pytest.skip("scans DynamoDB tables; the memory adapter keeps Python objects")


def _failing_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    raise RuntimeError("sealing failed")


_FLOWS: dict[str, Flow] = {}
"""One flow per backend, shared by the tests that only read what it captured."""


@pytest.fixture
def flow(
    backend: Any, lfw_dev_dir: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flow]:
    _require_dynamodb(backend)
    if backend.name in _FLOWS:
        yield _FLOWS[backend.name]
        return
    engine = real_engine()
    settings = backend.settings
    h = Harness.over(backend.services, engine, policy=lfw_policy())
    result = Flow(backend=backend, h=h)
    people = {name: lfw_images(lfw_dev_dir, name) for name in (GENUINE, SECOND, IMPOSTOR)}
    capfd.readouterr()
    with LogCapture() as logs:
        site = h.create_site()
        door = h.create_door(site)
        terminal = h.create_terminal(site, [door["door_id"]])
        result.secrets.update(terminal_secret=terminal.secret, unlock_key=door["unlock_key"])
        result.binary_secrets.update(
            unlock_key=decode_key(door["unlock_key"]), terminal_secret=terminal.secret.encode()
        )
        for name in (GENUINE, SECOND):
            selfies = people[name][:3]
            invite = h.invite(site, [door["door_id"]])
            assert h.consent(invite["token"]).status == 201
            enrolled = h.enroll(invite["token"], selfies, idempotency_key=f"burst-{name}")
            assert enrolled.status == 201, enrolled.body
            status = h.call("GET", f"/register/{invite['token']}/status").json()
            assert status["claim_code"] == enrolled.json()["claim_code"]
            result.visitors[name] = {**invite, "claim_code": status["claim_code"], "selfies": selfies}
            result.secrets[f"token:{name}"] = invite["token"]
            result.secrets[f"claim:{name}"] = status["claim_code"]
            result.images.extend(selfies)
            result.vectors.append(np.asarray(engine.enroll_template(selfies).vector))
        # at the door: a grant, a deny, a claim-code grant, a burst grant, and a few refusals
        frames = {"genuine": people[GENUINE][3], "impostor": people[IMPOSTOR][0], "second": people[SECOND][3]}
        grant = h.verify(terminal, door["door_id"], frames["genuine"]).json()
        assert grant["decision"] == "grant", grant
        assert h.verify(terminal, door["door_id"], frames["impostor"]).json()["decision"] == "deny"
        claim = result.secrets[f"claim:{GENUINE}"]
        by_claim = h.verify(terminal, door["door_id"], people[GENUINE][4], claim=claim).json()
        assert by_claim["decision"] == "grant", by_claim
        burst = h.verify(terminal, door["door_id"], [frames["second"], people[SECOND][4]]).json()
        assert burst["decision"] == "grant", burst
        for name, token in (("unlock-1", grant["unlock_token"]), ("unlock-2", by_claim["unlock_token"])):
            result.secrets[name] = token
        assert h.verify(terminal, door["door_id"], frames["genuine"][:500]).status == 400
        assert h.call("GET", f"/register/{'Z' * 43}/status").status == 401
        # the two paths that log: an unexpected exception mid-enrollment (images and template in scope), and
        # an AWS error that is not transient
        third = h.invite(site, [door["door_id"]])
        assert h.consent(third["token"]).status == 201
        with monkeypatch.context() as patch:
            patch.setattr(envelope, "seal", _failing_seal)
            assert h.enroll(third["token"], people[GENUINE][:3]).status == 500
        with inject(backend.dynamodb, "GetItem", 400, "com.amazonaws.dynamodb.v20120810#ValidationException", times=1):
            assert h.call("GET", f"/register/{third['token']}/status").status == 500
        result.secrets["token:third"] = third["token"]
        door_frames = [frames["genuine"], frames["impostor"], people[GENUINE][4], frames["second"], people[SECOND][4]]
        result.images.extend(door_frames)
        result.vectors.extend(np.asarray(engine.probe_template(frame).vector) for frame in door_frames)
        result.secrets["admin_jwt"] = h.admin_token()
        result.before = scan_all(backend.dynamodb, settings)
        # erasure: the first visitor with their link, the second by a host
        gone = h.call("DELETE", f"/register/{result.visitors[GENUINE]['token']}")
        assert gone.status == 200 and "template" in gone.json()["items"]
        revoked = h.admin("DELETE", f"/invites/{result.visitors[SECOND]['invite_id']}")
        assert revoked.status == 200 and "template" in revoked.json()["items"]
        after = h.verify(terminal, door["door_id"], frames["genuine"]).json()
        assert (after["decision"], after["next"]) == ("deny", "show_code")
        result.after = scan_all(backend.dynamodb, settings)
    captured = capfd.readouterr()
    result.logs = "\n".join([logs.text(), captured.out, captured.err])
    h.close()
    result.h = None
    _FLOWS[backend.name] = result
    yield result


# --------------------------------------------------------------------------------------- scanners


def stored_problems(tables: dict[str, list[dict[str, Any]]], flow: Flow) -> list[str]:
    """Every place where an image, a plaintext embedding or a raw secret is stored."""
    windows = ImageWindows(flow.images)
    vectors = np.stack(flow.vectors).astype(np.float64)
    secrets = {name: value.encode() for name, value in flow.secrets.items()} | flow.binary_secrets
    problems: list[str] = []
    for table, items in tables.items():
        for item in items:
            key = f"{table}[{item.get('pk', {}).get('S')}|{item.get('sk', {}).get('S', '')}]"
            for where, value in item_leaves(item):
                if isinstance(value, list):
                    if len(value) >= 128:
                        views = np.lib.stride_tricks.sliding_window_view(np.asarray(value, np.float64), 128)
                        if max_cosine(views, vectors) >= COSINE_LIMIT:
                            problems.append(f"{key}.{where}: a plaintext embedding as a number list")
                    continue
                for data in decodings(value):
                    if data.startswith(IMAGE_MAGICS) or data[8:12] == b"WEBP" or data[4:12] == b"ftypheic":
                        problems.append(f"{key}.{where}: starts like an image file")
                    if windows.found_in(data):
                        problems.append(f"{key}.{where}: holds 64 bytes of an uploaded image")
                    if len(data) >= 512 and any(
                        max_cosine(view, vectors) >= COSINE_LIMIT for view in float_views(data)
                    ):
                        problems.append(f"{key}.{where}: holds a plaintext embedding")
                    for name, secret in secrets.items():
                        if secret in data:
                            problems.append(f"{key}.{where}: holds the raw {name}")
    return problems


def test_the_scanners_find_what_they_look_for(lfw_dev_dir: Path) -> None:
    # Given a planted item holding a template (plain, base64, as numbers), an image chunk and a token
    engine = real_engine()
    images = lfw_images(lfw_dev_dir, GENUINE)
    vector = np.asarray(engine.enroll_template(images[:3]).vector)
    raw = vector.astype("<f4").tobytes()
    planted = {
        "t": [
            {"pk": {"S": "a"}, "blob": {"B": b"\x00\x01\x02" + raw}},
            {"pk": {"S": "b"}, "text": {"S": base64.b64encode(raw).decode()}},
            {"pk": {"S": "c"}, "numbers": {"L": [{"N": repr(float(x) * 3)} for x in vector]}},
            {"pk": {"S": "d"}, "chunk": {"B": b"xx" + images[0][1000:1100]}},
            {"pk": {"S": "e"}, "note": {"S": "token=SECRETSECRET"}},
            {"pk": {"S": "f"}, "head": {"B": images[1][:40]}},
        ]
    }
    fake = Flow(backend=None, h=None, images=images[:3], vectors=[vector], secrets={"token": "SECRETSECRET"})
    # When the stored-data scanner runs over it
    problems = stored_problems(planted, fake)
    # Then it reports every plant (and a genuine unrelated template does not trip the embedding check)
    assert any(p.startswith("t[a|].blob") and "embedding" in p for p in problems), problems
    assert any(p.startswith("t[b|].text") and "embedding" in p for p in problems), problems
    assert any(p.startswith("t[c|].numbers") for p in problems), problems
    assert any(p.startswith("t[d|].chunk") and "64 bytes" in p for p in problems), problems
    assert any(p.startswith("t[e|].note") and "raw token" in p for p in problems), problems
    assert any(p.startswith("t[f|].head") and "image file" in p for p in problems), problems
    other = np.asarray(engine.enroll_template(lfw_images(lfw_dev_dir, SECOND)[:3]).vector).astype("<f4").tobytes()
    assert stored_problems({"t": [{"pk": {"S": "z"}, "blob": {"B": other}}]}, fake) == []


def test_no_table_ever_holds_images_embeddings_or_raw_secrets(flow: Flow) -> None:
    # Given the tables after the whole flow (before and after erasure)
    # When every attribute of every item is scanned
    before, after = stored_problems(flow.before, flow), stored_problems(flow.after, flow)
    # Then none holds image bytes, a plaintext template or probe, a token, claim code, secret or key
    counts = {table: len(items) for table, items in flow.before.items()}
    print(f"{flow.backend.name}: scanned {counts} items before erasure")
    assert before == [] and after == [], before + after
    # And the stored templates are ciphertexts of the expected size (nonce + 512 bytes + tag), nothing more
    templates = flow.before["templates_table"]
    assert len(templates) == 2
    assert all(len(item["ciphertext"]["B"]) == 12 + 512 + 16 for item in templates)


def test_after_erasure_only_audit_and_the_bare_invite_refer_to_the_visitors(flow: Flow) -> None:
    # Given what identifies each visitor in storage: the invite id, the token hash, the claim-code hash
    markers: dict[str, set[str]] = {}
    for name, visitor in flow.visitors.items():
        claim_hashes = {
            item["claim_hash"]["S"]
            for item in flow.before["templates_table"]
            if item["sk"]["S"] == visitor["invite_id"]
        }
        assert len(claim_hashes) == 1
        markers[name] = {visitor["invite_id"], hash_token(visitor["token"])} | claim_hashes
    # When every item left after the erasures is searched for them
    remaining: dict[str, list[str]] = {}
    for table, items in flow.after.items():
        for item in items:
            texts = [value for _, value in item_leaves(item) if isinstance(value, str)]
            for name, marks in markers.items():
                if any(mark in text for mark in marks for text in texts):
                    remaining.setdefault(name, []).append(f"{table}:{item['pk']['S']}")
                    # Then an audit record may name the visitor (it holds no image or template, see above)
                    if table == "audit_table":
                        assert set(item) <= AUDIT_ATTRIBUTES, sorted(item)
                    # the invite item stays, stripped of consent, claim code and enrollment
                    elif table == "directory_table" and item["pk"]["S"].startswith("INVITE#"):
                        expected = ERASED_INVITE if name == GENUINE else REVOKED_INVITE
                        assert set(item) == expected, (name, sorted(item))
                    # the token lookup stays so that the link can say "erased" / "cancelled"
                    elif table == "directory_table" and item["pk"]["S"].startswith("TOKEN#"):
                        assert set(item) == TOKEN_ITEM, sorted(item)
                    else:
                        pytest.fail(f"{name} is still referred to by {table} item {item['pk']['S']}: {sorted(item)}")
    # And no template of either visitor is left
    assert flow.after["templates_table"] == []
    # And the audit trail still says who invited, and when each visitor consented, enrolled and was erased
    for name, visitor in flow.visitors.items():
        trail = [
            (item["kind"]["S"], item["actor"]["S"])
            for item in flow.after["audit_table"]
            if item.get("visitor_id", {}).get("S") == visitor["invite_id"]
        ]
        erased_by = "visitor" if name == GENUINE else "admin-1"
        for entry in (("invite", "admin-1"), ("consent", "visitor"), ("enroll", "visitor"), ("erase", erased_by)):
            assert entry in trail, (name, entry, trail)
    print(f"{flow.backend.name}: what still refers to the visitors after erasure: {remaining}")


def log_problems(text: str, flow: Flow) -> list[str]:
    """Every secret, template encoding or image fragment found in the captured log text."""
    problems = [f"raw {name}" for name, secret in flow.secrets.items() if secret in text]
    problems += [f"raw {name} (hex)" for name, secret in flow.binary_secrets.items() if secret.hex() in text]
    for i, vector in enumerate(flow.vectors):
        for encoding in template_encodings(vector):
            if encoding[:64] in text:
                problems.append(f"template/probe {i} encoded ({encoding[:12]}...)")
    latin = text.encode("latin-1", "replace")
    if ImageWindows(flow.images).found_in(latin):
        problems.append("64 raw bytes of an uploaded image")
    for image in flow.images:
        hex_text = image.hex()
        if any(hex_text[i : i + 96] in text for i in range(0, len(hex_text) - 96, 2)):
            problems.append("an uploaded image in hex")
        for shift in range(3):
            b64 = base64.b64encode(image[shift:]).decode()
            if any(b64[i : i + 64] in text for i in range(0, len(b64) - 64, 4)):
                problems.append("an uploaded image in base64")
        if repr(image[:24])[2:-1] in text:
            problems.append("an uploaded image as a bytes repr")
    return problems


def test_no_log_line_holds_tokens_secrets_templates_or_images(flow: Flow) -> None:
    # Given everything the real handlers logged and printed during the flow (Powertools JSON logs at DEBUG,
    # other loggers at WARNING, stdout and stderr with the EMF metrics)
    lines = [line for line in flow.logs.splitlines() if line.strip()]
    print(f"{flow.backend.name}: {len(lines)} log lines captured")
    assert any('"message":"unexpected error"' in line and "stack_trace" in line for line in lines), "no traceback"
    assert any('"message":"AWS call failed"' in line for line in lines), "no AWS error line"
    assert any('"_aws"' in line for line in lines), "no metrics line"
    # When they are searched for secrets, templates and image bytes
    problems = log_problems(flow.logs, flow)
    # Then none is found
    assert problems == [], problems


def test_the_log_scanner_finds_what_it_looks_for(lfw_dev_dir: Path) -> None:
    # Given log text with a leaked token, a template in base64 and an image chunk in hex
    images = lfw_images(lfw_dev_dir, GENUINE)[:1]
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    fake = Flow(backend=None, h=None, images=images, vectors=[vector], secrets={"token": "TOKENTOKENTOKEN"})
    leaks = [
        "request for /register/TOKENTOKENTOKEN/status",
        "template=" + base64.b64encode(vector.astype("<f4").tobytes()).decode(),
        "body=" + images[0][2000:2100].hex(),
        "body=" + base64.b64encode(images[0][3001:3200]).decode(),
    ]
    # When the log scanner runs over each, Then each is found
    for leak in leaks:
        assert log_problems(f"2026 INFO {leak} done", fake) != [], leak
    assert log_problems("2026 INFO nothing to see", fake) == []


def test_logging_and_tracing_are_configured_not_to_carry_data() -> None:
    # Given template.yaml and the handlers
    template = load_template(TEMPLATE)
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    # Then Powertools logs at INFO, traces neither responses nor errors, and no function raises the
    # application or system log level to DEBUG (boto3's DEBUG logs print request and response bodies, which
    # include KMS plaintexts: site data keys, terminal secrets and unlock keys)
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        config = resource["Properties"].get("LoggingConfig", {})
        for level in ("ApplicationLogLevel", "SystemLogLevel"):
            assert config.get(level, "INFO") not in ("DEBUG", "TRACE"), (name, level)
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        assert "POWERTOOLS_LOG_LEVEL" not in variables and "AWS_LAMBDA_LOG_LEVEL" not in variables, name
        source = (TEMPLATE.parent / resource["Properties"]["CodeUri"] / "app.py").read_text()
        if "lambda_entry(resolver)" in source:
            source = inspect.getsource(lambda_entry)
        assert "log_event=False" in source and "capture_response=False" in source, name
    # And the API's access log records the route key, never the raw path (which carries invite tokens)
    access_format = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    assert "$context.routeKey" in access_format
    assert "$context.path" not in access_format and "$context.requestOverride" not in access_format


def test_an_expired_invite_never_matches_while_its_template_is_still_stored(backend: Any, lfw_dev_dir: Path) -> None:
    # Given a visitor enrolled for a one-hour window
    _require_dynamodb(backend)
    settings = backend.settings
    h = Harness.over(backend.services, real_engine(), policy=lfw_policy())
    clock = h.clock
    try:
        images = lfw_images(lfw_dev_dir, GENUINE)
        site = h.create_site()
        door = h.create_door(site)["door_id"]
        terminal = h.create_terminal(site, [door])
        invite = h.invite(site, [door], hours=1)
        assert h.consent(invite["token"]).status == 201
        enrolled = h.enroll(invite["token"], images[:3])
        assert enrolled.status == 201
        code = enrolled.json()["claim_code"]
        assert h.verify(terminal, door, images[3]).json()["decision"] == "grant"
        # When the window ends (DynamoDB's TTL has not deleted anything: the template item is still there)
        clock.advance(3600 + 1)
        stored = scan_all(backend.dynamodb, settings)["templates_table"]
        assert [item["sk"]["S"] for item in stored] == [invite["invite_id"]]
        by_face = h.verify(terminal, door, images[3]).json()
        by_claim = h.verify(terminal, door, images[4], claim=code).json()
        status = h.call("GET", f"/register/{invite['token']}/status").json()
        consent = h.consent(invite["token"])
        # Then the visitor is no candidate, by face or by claim code
        assert (by_face["decision"], by_face["next"]) == ("deny", "show_code")
        assert (by_claim["decision"], by_claim["next"]) == ("deny", "see_reception")
        # And the visitor's page says expired and no longer shows the claim code; nothing new is accepted
        assert status["status"] == "expired" and status["claim_code"] is None
        assert (consent.status, consent.error_code) == (410, "invite_expired")
        # And the template item expires by TTL at the end of the window plus the grace period
        valid_until = datetime.fromisoformat(invite["valid_until"].replace("Z", "+00:00"))
        assert int(stored[0]["expires_at"]["N"]) == int(valid_until.timestamp()) + settings.retention_grace_seconds
    finally:
        h.close()


def test_a_replayed_enrollment_after_erasure_does_not_claim_to_be_enrolled(backend: Any, lfw_dev_dir: Path) -> None:
    # Given a visitor who enrolled with an Idempotency-Key and erased their data (which ends the link:
    # issue 15 item 2, so a new consent is refused)
    h = Harness.over(backend.services, real_engine())
    try:
        images = lfw_images(lfw_dev_dir, GENUINE)[:3]
        site = h.create_site()
        door = h.create_door(site)["door_id"]
        invite = h.invite(site, [door])
        assert h.consent(invite["token"]).status == 201
        assert h.enroll(invite["token"], images, idempotency_key="burst-0001").status == 201
        assert h.call("DELETE", f"/register/{invite['token']}").status == 200
        refused = h.consent(invite["token"])
        assert (refused.status, refused.error_code) == (410, "invite_erased")
        # When the phone re-sends the same selfies with the same key (within the key's 10 minutes)
        again = h.enroll(invite["token"], images, idempotency_key="burst-0001")
        status = h.call("GET", f"/register/{invite['token']}/status").json()
        # Then the answer matches the truth: no replayed "enrolled", the link is over and status says erased
        assert (again.status, again.error_code) == (410, "invite_erased"), again.body
        assert status["status"] == "erased" and status["claim_code"] is None, status
    finally:
        h.close()


@dataclass
class Tampered:
    """Two enrolled visitors; the second visitor's row now holds the first visitor's template ciphertext."""

    h: Harness
    terminal: Any
    door: str
    claim_of_second: str
    genuine_frame: bytes


@pytest.fixture
def tampered(backend: Any, lfw_dev_dir: Path) -> Iterator[Tampered]:
    # an insider with write access to the templates table copies the first visitor's ciphertext into the
    # second visitor's row, and bumps the site's version so that every warm instance reloads
    _require_dynamodb(backend)
    settings = backend.settings
    h = Harness.over(backend.services, real_engine(), policy=lfw_policy())
    site = h.create_site()
    door = h.create_door(site)["door_id"]
    terminal = h.create_terminal(site, [door])
    invites, claims = {}, {}
    for name in (GENUINE, SECOND):
        invites[name] = h.invite(site, [door])
        assert h.consent(invites[name]["token"]).status == 201
        enrolled = h.enroll(invites[name]["token"], lfw_images(lfw_dev_dir, name)[:3])
        assert enrolled.status == 201
        claims[name] = enrolled.json()["claim_code"]
    frame = lfw_images(lfw_dev_dir, GENUINE)[3]
    assert h.verify(terminal, door, frame).json()["decision"] == "grant"
    client, table = backend.dynamodb, settings.templates_table
    source = client.get_item(TableName=table, Key={"pk": {"S": site}, "sk": {"S": invites[GENUINE]["invite_id"]}})
    client.update_item(
        TableName=table,
        Key={"pk": {"S": site}, "sk": {"S": invites[SECOND]["invite_id"]}},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": source["Item"]["ciphertext"]},
    )
    client.update_item(
        TableName=settings.directory_table,
        Key={"pk": {"S": f"SITE#{site}"}, "sk": {"S": "SITE"}},
        UpdateExpression="ADD template_version :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    yield Tampered(h, terminal, door, claims[SECOND], frame)
    h.close()


def test_a_template_moved_to_another_visitors_row_never_opens_the_door(tampered: Tampered) -> None:
    # Given the second visitor's row holding the first visitor's template (encrypted, bound to the first)
    # When the first visitor presents the second visitor's claim code at the door (1:1 against that row)
    response = tampered.h.verify(
        tampered.terminal, tampered.door, tampered.genuine_frame, claim=tampered.claim_of_second
    )
    # Then the ciphertext does not decrypt under the second visitor's identity: no grant, no unlock token
    print(f"door answer with a moved template: {response.status} {response.body[:100]!r}")
    assert response.status != 200 or response.json()["decision"] == "deny"
    assert response.status == 200 or response.status >= 500
    assert b'"unlock_token": "' not in response.body and b'"unlock_token":"' not in response.body


def test_one_undecryptable_template_does_not_lock_out_the_site_and_is_logged(tampered: Tampered) -> None:
    # Given one row of the site that no longer decrypts (the moved template)
    with LogCapture() as logs:
        # When the first visitor, whose own row is intact, comes to the door
        response = tampered.h.verify(tampered.terminal, tampered.door, tampered.genuine_frame)
    # Then they are still recognised from their own row, and the bad row is reported in the logs
    assert response.status == 200 and response.json()["decision"] == "grant", response.body
    assert '"level":"ERROR"' in logs.text() or "ERROR" in logs.text()

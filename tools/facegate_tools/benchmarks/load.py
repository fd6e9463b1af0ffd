"""``facegate bench load``: sustained, signed door traffic against the local stack.

Against the stack described by ``.facegate/local.json`` (``facegate serve``), or, when none answers,
a stack started in this process (then the memory figures include the load generator itself):

1. A benchmark site of its own (the demo site is left as it is) with ``enrolled`` visitors: a few
   real LFW dev people enrolled through the API with the real engine, the rest synthetic visitors
   (random unit vectors) written through the storage layer, encrypted exactly as the product does.
   The site is remembered in ``load-bench.json`` beside the state file and reused by later runs
   against the same stack.
2. One terminal per worker thread (so nonces and cool-downs never collide); each worker sends signed
   single-frame verify requests: photos of the enrolled real people (picked with the engine so that
   they are granted) and strangers (denied). Strangers are rationed per terminal so the deny
   cool-down (5 counted denies a minute by default) never starts: a 429 would be an error.
3. Reported: sustained requests per second, latency percentiles (client side, milliseconds), outcome
   and error counts, the serving process's resident memory over time, and the load average.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import secrets
import threading
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate_tools.benchmarks.seeding import seed_synthetic
from facegate_tools.engine import load_engine

REAL_PEOPLE = 6
"""LFW dev people enrolled through the API (the rest of the population is synthetic)."""
STRANGERS = 12
PROBE_MARGIN = 0.004
"""A real person's photo is used as a genuine probe only if it clears the identify threshold by this
much (cosine) and beats every other real visitor by the matcher's margin."""
STRANGER_GAP = 0.05
"""Strangers stay this far (cosine) below the identify threshold against every real visitor."""
STRANGER_EVERY = 4
"""At most one request in this many is a stranger (subject to the per-terminal deny budget)."""
DENY_BUDGET = 3
"""Counted denies allowed per terminal per :data:`DENY_WINDOW_S` (the default cool-down starts at 5)."""
DENY_WINDOW_S = 60.0
RSS_EVERY_S = 1.0
REQUEST_TIMEOUT_S = 120.0
SIDECAR_NAME = "load-bench.json"
TEMPLATE_PATH = Path("template.yaml")
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True, slots=True)
class Probe:
    """One door request body (a single JPEG frame) and the decision it must get."""

    body: bytes
    expected: str
    person: str


@dataclass(frozen=True, slots=True)
class Person:
    """A real LFW dev person: three enrollment photos and the photos that are granted at the door."""

    name: str
    enroll: tuple[bytes, bytes, bytes]
    probes: tuple[bytes, ...]


@dataclass
class Outcome:
    """What one worker saw (latencies in milliseconds)."""

    latencies_ms: list[float] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    strangers: int = 0


# --- HTTP ---------------------------------------------------------------------------------------


class Api:
    """A minimal JSON/HTTP client of the facegate API over one keep-alive connection (not thread-safe)."""

    def __init__(self, api_url: str, admin_token: str | None = None) -> None:
        split = urllib.parse.urlsplit(api_url)
        self.host = split.netloc
        self.base_path = split.path.rstrip("/")
        self.admin_token = admin_token
        self._connection: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        """One request; returns (status, decoded JSON body or None). Reconnects once on a dropped connection."""
        for attempt in (0, 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, timeout=REQUEST_TIMEOUT_S)
            try:
                self._connection.request(method, self.base_path + path, body=body, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
                continue
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, None
        raise AssertionError("unreachable")

    def admin(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An admin call (Bearer token); raises RuntimeError unless 2xx."""
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        return self.expect_ok(method, path, json.dumps(payload).encode(), headers)

    def expect_ok(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
        status, data = self.send(method, path, body, headers)
        if not 200 <= status < 300 or not isinstance(data, dict):
            raise RuntimeError(f"{method} {path} answered {status}: {data}")
        return data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def multipart(field_name: str, parts: Sequence[bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body with one JPEG part per item, all named ``field_name``."""
    boundary = f"fgload{uuid.uuid4().hex}"
    chunks = []
    for index, data in enumerate(parts, start=1):
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{index}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n".encode()
        )
        chunks.extend((data, b"\r\n"))
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def signed_headers(key_id: str, secret: str, path: str, body: bytes) -> dict[str, str]:
    """The terminal headers of a JPEG verify request (fresh timestamp and nonce)."""
    from facegate.security.signing import canonical_string, sign

    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
    return {
        "Content-Type": "image/jpeg",
        "X-Facegate-Key-Id": key_id,
        "X-Facegate-Timestamp": timestamp,
        "X-Facegate-Nonce": nonce,
        "X-Facegate-Signature": sign(secret, canonical_string("POST", path, timestamp, nonce, body)),
    }


# --- the stack ----------------------------------------------------------------------------------


def _reachable(api_url: str) -> bool:
    api = Api(api_url)
    try:
        status, _ = api.send("GET", "/openapi.json", None, {})
    except OSError:
        return False
    finally:
        api.close()
    return status == 200


def serving_pid(port: int) -> int | None:
    """The id of the process listening on TCP ``port`` (loopback), or None."""
    import psutil  # type: ignore[import-untyped]

    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            return None if connection.pid is None else int(connection.pid)
    return None


@contextlib.contextmanager
def running_stack(local_file: Path) -> Iterator[tuple[dict[str, Any], int, str]]:
    """(state, pid of the serving process, mode): the running stack of ``local_file``, else one in-process."""
    if local_file.is_file():
        state: dict[str, Any] = json.loads(local_file.read_text())
        if _reachable(state["api_url"]):
            port = urllib.parse.urlsplit(state["api_url"]).port or 80
            pid = serving_pid(port)
            yield state, pid or os.getpid(), f"running stack (pid {pid})" if pid else "running stack (pid unknown)"
            return
    from facegate_tools.local.emulators import free_port
    from facegate_tools.local.stack import LocalStack

    stack = LocalStack(TEMPLATE_PATH, port=free_port())
    try:
        yield stack.start(), os.getpid(), "in-process stack (memory includes the load generator)"
    finally:
        stack.stop()


def fresh_admin_token(state: dict[str, Any]) -> str:
    """The local admin's token from local.json (valid for 60 minutes; signed by the stack's per-run key,
    which only the serving process holds, so a new token means a new ``facegate serve``)."""
    return str(state["admin"]["token"])


def stack_services(state: dict[str, Any]) -> Any:
    """Services wired to the stack's own tables and KMS (names as ``facegate serve`` creates them)."""
    from facegate.runtime import build_services
    from facegate.settings import Settings
    from facegate_tools.local import aws
    from facegate_tools.local.stack import STACK_NAME

    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    template = aws.load_template(TEMPLATE_PATH)
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    tables = {spec.logical_id for spec in aws.table_specs(template)}
    environ = {
        name: f"{STACK_NAME}-{value['Ref']}"
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }
    environ["KMS_KEY_ID"] = f"alias/{STACK_NAME}-data"
    environ["FACEGATE_AWS_ENDPOINT_URL"] = state["aws_endpoint_url"]
    if state.get("dynamodb_endpoint_url"):
        environ["FACEGATE_DYNAMODB_ENDPOINT_URL"] = state["dynamodb_endpoint_url"]
    environ["AWS_REGION"] = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]
    return build_services(Settings.from_env(environ), backend="aws")


# --- people ------------------------------------------------------------------------------------


def _vectors(engine: Any, photos: Sequence[bytes]) -> tuple[dict[int, Any], dict[int, Any]]:
    from facegate.errors import FacegateError

    enrollable, probes = {}, {}
    for index, photo in enumerate(photos):
        with contextlib.suppress(FacegateError):
            enrollable[index] = engine.enroll_template(photo).vector
        with contextlib.suppress(FacegateError):
            probes[index] = engine.probe_template(photo).vector
    return enrollable, probes


def choose_people(engine: Any, lfw_dev: Path, threshold: float, margin: float) -> tuple[list[Person], list[bytes]]:
    """Up to :data:`REAL_PEOPLE` LFW dev people (by name) with granted photos, and :data:`STRANGERS`
    strangers far from all of them. For each person, the three enrollment photos are the combination
    that maximises how many of their photos clear ``threshold + PROBE_MARGIN``."""
    from facegate.vision.engine import CONSISTENCY_THRESHOLD, fuse

    folders = sorted(p for p in lfw_dev.iterdir() if p.is_dir())
    people: list[tuple[Person, npt.NDArray[np.float32]]] = []
    for folder in folders:
        photos = [path.read_bytes() for path in sorted(folder.glob("*.jpg"))]
        if len(photos) < 4 or len(people) == REAL_PEOPLE:
            continue
        enrollable, probes = _vectors(engine, photos)
        best: tuple[int, tuple[int, ...], npt.NDArray[np.float32]] | None = None
        for combo in itertools.combinations(sorted(enrollable), 3):
            stacked = np.stack([enrollable[i] for i in combo])
            if float((stacked @ stacked.T).min()) < CONSISTENCY_THRESHOLD:
                continue
            template = fuse(stacked)
            granted = sum(float(template @ vector) >= threshold + PROBE_MARGIN for vector in probes.values())
            if best is None or granted > best[0]:
                best = (granted, combo, template)
        if best is None or best[0] == 0:
            continue
        _, chosen, template = best
        others = [t for _, t in people]
        good = tuple(
            photos[index]
            for index, vector in probes.items()
            if float(template @ vector) >= threshold + PROBE_MARGIN
            and all(float(template @ vector) - float(other @ vector) >= margin + PROBE_MARGIN for other in others)
        )
        if good:
            enroll = (photos[chosen[0]], photos[chosen[1]], photos[chosen[2]])
            people.append((Person(folder.name, enroll, good), template))
    templates = [template for _, template in people]
    strangers: list[bytes] = []
    for folder in reversed(folders):
        if len(strangers) == STRANGERS or folder.name in {person.name for person, _ in people}:
            continue
        photo = next(iter(sorted(folder.glob("*.jpg"))), None)
        if photo is None:
            continue
        _, probes = _vectors(engine, [photo.read_bytes()])
        if probes and all(float(t @ probes[0]) < threshold - STRANGER_GAP for t in templates):
            strangers.append(photo.read_bytes())
    return [person for person, _ in people], strangers


# --- the population ----------------------------------------------------------------------------


def enroll_through_api(api: Api, site_id: str, door_id: str, person: Person) -> None:
    """Invite, consent and enroll ``person`` (three selfies) through the HTTP API."""
    now = datetime.now(UTC)
    invite = api.admin(
        "POST",
        f"/sites/{site_id}/invites",
        {
            "door_ids": [door_id],
            "valid_from": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "valid_until": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "display_name": person.name,
        },
    )
    prefix = f"/register/{invite['token']}"
    notice = api.expect_ok("GET", f"{prefix}/notice", None, {})
    consent = json.dumps({"consent_version": notice["consent_version"], "accepted": True}).encode()
    api.expect_ok("POST", f"{prefix}/consent", consent, {"Content-Type": "application/json"})
    body, content_type = multipart("image", person.enroll)
    headers = {"Content-Type": content_type, "Idempotency-Key": str(uuid.uuid4())}
    api.expect_ok("POST", f"{prefix}/selfie", body, headers)


def ensure_population(
    api: Api, state: dict[str, Any], sidecar: Path, enrolled: int, people: Sequence[Person], model_id: str
) -> dict[str, Any]:
    """The benchmark site with ``enrolled`` visitors (reused from ``sidecar`` when it matches the stack)."""
    if sidecar.is_file():
        known: dict[str, Any] = json.loads(sidecar.read_text())
        if known.get("aws_endpoint_url") == state["aws_endpoint_url"] and known.get("enrolled") == enrolled:
            return known
    real = list(people[: max(0, min(len(people), enrolled))])
    site = api.admin("POST", "/sites", {"name": "Load benchmark site", "timezone": "Asia/Seoul"})
    door = api.admin("POST", f"/sites/{site['site_id']}/doors", {"name": "Load gate"})
    services = stack_services(state)
    seed_synthetic(services, site["site_id"], door["door_id"], enrolled - len(real), model_id)
    for person in real:
        enroll_through_api(api, site["site_id"], door["door_id"], person)
    record = {
        "aws_endpoint_url": state["aws_endpoint_url"],
        "site_id": site["site_id"],
        "door_id": door["door_id"],
        "enrolled": enrolled,
        "real_visitors": [person.name for person in real],
        "synthetic_visitors": enrolled - len(real),
    }
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(record, indent=2) + "\n")
    return record


# --- the run -----------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Samples the resident set size of ``pid`` every :data:`RSS_EVERY_S` seconds (MiB)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self.stop_event = threading.Event()
        self.started_at = time.perf_counter()

    def sample(self) -> None:
        rss = self.process.memory_info().rss / (1024 * 1024)
        self.samples.append((round(time.perf_counter() - self.started_at, 1), round(rss, 1)))

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(RSS_EVERY_S)

    def summary(self) -> dict[str, Any]:
        values = [mb for _, mb in self.samples]
        every = max(1, round(5.0 / RSS_EVERY_S))
        return {
            "start": values[0],
            "end": values[-1],
            "max": max(values),
            "samples_every_5s": [[t, mb] for t, mb in self.samples[::every]],
        }


def worker(
    api_url: str,
    terminal: dict[str, Any],
    door_id: str,
    genuine: Sequence[Probe],
    strangers: Sequence[Probe],
    deadline: float,
    offset: int,
) -> Outcome:
    """Send signed verify requests until ``deadline`` (perf_counter seconds); one terminal, one connection."""
    from facegate.usecases.door import COUNTED_DENIALS

    counted = {reason.value for reason in COUNTED_DENIALS}
    outcome = Outcome()
    api = Api(api_url)
    path = f"/doors/{door_id}/verify"
    denies: deque[float] = deque()
    try:
        for number in itertools.count(offset):
            now = time.perf_counter()
            if now >= deadline:
                break
            while denies and now - denies[0] > DENY_WINDOW_S:
                denies.popleft()
            stranger_turn = number % STRANGER_EVERY == 0 and len(denies) < DENY_BUDGET
            probe = strangers[number % len(strangers)] if stranger_turn else genuine[number % len(genuine)]
            outcome.strangers += stranger_turn
            headers = signed_headers(terminal["key_id"], terminal["secret"], path, probe.body)
            started = time.perf_counter()
            try:
                status, data = api.send("POST", path, probe.body, headers)
            except OSError as exc:
                outcome.errors[f"transport:{type(exc).__name__}"] += 1
                continue
            outcome.latencies_ms.append((time.perf_counter() - started) * 1000.0)
            if status != 200 or not isinstance(data, dict):
                code = (data or {}).get("error", {}).get("code") if isinstance(data, dict) else None
                outcome.errors[f"{status}:{code}"] += 1
                continue
            outcome.decisions[f"{data['decision']}:{data['reason']}"] += 1
            if data["reason"] in counted:
                denies.append(time.perf_counter())
            if data["decision"] != probe.expected:
                outcome.unexpected[f"{probe.person} expected {probe.expected}, got {data['reason']}"] += 1
    finally:
        api.close()
    return outcome


def first_request_ms(api_url: str, terminal: dict[str, Any], door_id: str, body: bytes) -> float:
    """Milliseconds of one verify right after setup (the server loads the site's candidates then)."""
    api = Api(api_url)
    path = f"/doors/{door_id}/verify"
    started = time.perf_counter()
    try:
        api.send("POST", path, body, signed_headers(terminal["key_id"], terminal["secret"], path, body))
    finally:
        api.close()
    return (time.perf_counter() - started) * 1000.0


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 1) if values else float("nan")


def load_bench(local_file: Path, seconds: float, concurrency: int, enrolled: int, shared: Path) -> dict[str, Any]:
    """Run sustained verify load against the local stack and report throughput, latency and memory.

    Args:
        local_file: the stack's state file (``.facegate/local.json``); when its API does not answer, a
            stack is started in this process for the run.
        seconds: duration of the measured run, seconds (> 0).
        concurrency: worker threads, each with its own terminal and connection (>= 1).
        enrolled: visitors enrolled at the benchmark site (>= 1): up to six real LFW people, the rest synthetic.
        shared: the shared data folder holding ``datasets/lfw-dev``.

    Returns:
        A JSON-ready report: ``throughput_rps``, ``latency_ms`` (p50/p90/p99/max, client side), outcome
        and error counts, ``rss_mib`` of the serving process over time, the population and the machine load.
    """
    if seconds <= 0 or concurrency < 1 or enrolled < 1:
        raise ValueError("seconds must be > 0, concurrency >= 1 and enrolled >= 1")
    from facegate_tools.evaluation.runner import default_threshold

    lfw_dev = shared / "datasets" / "lfw-dev"
    if not lfw_dev.is_dir():
        raise FileNotFoundError(f"LFW dev images not found under {lfw_dev} (set FACEGATE_SHARED_DIR)")
    load_before = os.getloadavg()
    engine = load_engine(threads=1)
    people, stranger_photos = choose_people(engine, lfw_dev, default_threshold("identify"), 0.004)
    if not people or not stranger_photos:
        raise RuntimeError("no usable LFW dev people for the benchmark")
    with running_stack(local_file) as (state, pid, mode):
        api = Api(state["api_url"], fresh_admin_token(state))
        setup_started = time.perf_counter()
        population = ensure_population(api, state, local_file.parent / SIDECAR_NAME, enrolled, people, engine.model_id)
        enrolled_names = set(population["real_visitors"])
        genuine = [
            Probe(photo, "grant", person.name)
            for person in people
            if person.name in enrolled_names
            for photo in person.probes
        ]
        strangers = [Probe(photo, "deny", "stranger") for photo in stranger_photos]
        terminals = [
            api.admin(
                "POST",
                f"/sites/{population['site_id']}/terminals",
                {"name": f"load {number}", "door_ids": [population["door_id"]]},
            )
            for number in range(concurrency)
        ]
        api.close()
        warm_ms = first_request_ms(state["api_url"], terminals[0], population["door_id"], genuine[0].body)
        setup_s = time.perf_counter() - setup_started
        sampler = RssSampler(pid)
        sampler.start()
        started = time.perf_counter()
        deadline = started + seconds
        results: list[Outcome] = [Outcome() for _ in range(concurrency)]

        def run(index: int) -> None:
            results[index] = worker(
                state["api_url"], terminals[index], population["door_id"], genuine, strangers, deadline, index + 1
            )

        threads = [threading.Thread(target=run, args=(i,), name=f"load-{i}") for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        sampler.stop_event.set()
        sampler.join()
        sampler.sample()
    latencies = [value for outcome in results for value in outcome.latencies_ms]
    decisions: Counter[str] = sum((o.decisions for o in results), Counter())
    errors: Counter[str] = sum((o.errors for o in results), Counter())
    unexpected: Counter[str] = sum((o.unexpected for o in results), Counter())
    completed = sum(decisions.values())
    return {
        "stack": {"api_url": state["api_url"], "mode": mode, "backend": state.get("backend", "moto")},
        "population": {
            "site_id": population["site_id"],
            "enrolled": population["enrolled"],
            "real_visitors_enrolled_through_the_api": population["real_visitors"],
            "synthetic_visitors_seeded_through_the_storage_layer": population["synthetic_visitors"],
        },
        "probes": {"genuine_photos": len(genuine), "stranger_photos": len(strangers)},
        "run": {
            "seconds": round(elapsed, 1),
            "concurrency": concurrency,
            "requests": completed + sum(errors.values()),
            "throughput_rps": round(completed / elapsed, 2),
            "latency_ms": {
                "p50": _percentile(latencies, 50),
                "p90": _percentile(latencies, 90),
                "p99": _percentile(latencies, 99),
                "max": round(max(latencies), 1) if latencies else float("nan"),
            },
            "decisions": dict(decisions),
            "stranger_requests": sum(o.strangers for o in results),
            "unexpected_decisions": dict(unexpected),
            "errors": sum(errors.values()),
            "error_codes": dict(errors),
            "first_request_after_setup_ms": round(warm_ms, 1),
            "setup_seconds": round(setup_s, 1),
        },
        "rss_mib": sampler.summary(),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
    }

"""Door verification: authenticate the terminal, embed the frames, decide, audit, unlock.

Order matters: cheap checks that need no storage come first (header shape, clock skew), then the
key (revocation is read on every request) and the signature — no image is decoded for a request
that is not correctly signed. The nonce is recorded only for a valid signature (attackers cannot
burn nonces); the nonce, door-binding and cool-down verdicts are applied before anything is decided,
recorded or returned, while their storage round trips overlap with the face work.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from facegate.domain.matching import identify, verify_claim
from facegate.domain.models import AuditKind, Decision, DecisionMode, DecisionReason, Door, Terminal
from facegate.errors import FaceRejected, Forbidden, NotFound, RateLimited, Unauthorized
from facegate.security import signing, tokens
from facegate.usecases.admin import require_site
from facegate.usecases.audit import record_event
from facegate.usecases.context import Services
from facegate.usecases.keys import door_context, site_context, terminal_context
from facegate.usecases.visitor import claim_key
from facegate.vision import thresholds

TIMESTAMP = re.compile(r"[0-9]{1,12}")
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_IO = ThreadPoolExecutor(max_workers=4, thread_name_prefix="facegate-io")
"""Overlaps independent storage round trips of one request (boto3 clients are thread-safe)."""
_DOORS: dict[tuple[str, str], Door] = {}

COUNTED_DENIALS = frozenset(
    {DecisionReason.NO_MATCH, DecisionReason.AMBIGUOUS, DecisionReason.CLAIM_MISMATCH, DecisionReason.CLAIM_UNKNOWN}
)
"""Denials that count towards a terminal's cool-down (an empty frame does not)."""


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The authentication material of one terminal request (headers as sent, body bytes as received)."""

    method: str
    path: str
    key_id: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None
    body: bytes
    claim: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    decision: Decision
    decision_id: str
    unlock_token: str | None
    model_id: str
    latency_ms: float
    terminal_id: str


def _check_headers(services: Services, request: SignedRequest) -> tuple[str, str, str, str]:
    """Header shape and clock skew: no storage involved."""
    if not (request.key_id and request.timestamp and request.nonce and request.signature):
        raise Unauthorized("signed request headers are missing", code="missing_signature")
    nonce_ok = signing.MIN_NONCE_LENGTH <= len(request.nonce) <= signing.MAX_NONCE_LENGTH
    if not (TIMESTAMP.fullmatch(request.timestamp) and KEY_ID.fullmatch(request.key_id) and nonce_ok):
        raise Unauthorized("signed request headers are malformed", code="missing_signature")
    if abs(services.clock().timestamp() - int(request.timestamp)) > services.settings.clock_skew_seconds:
        raise Unauthorized("the request timestamp is too far from server time", code="clock_skew")
    return request.key_id, request.timestamp, request.nonce, request.signature


def _check_signature(services: Services, request: SignedRequest) -> Terminal:
    """The terminal behind the key id, if its key is valid and the signature matches."""
    key_id, timestamp, nonce, signature = _check_headers(services, request)
    terminal = services.repo.get_terminal_by_key(key_id)
    if terminal is None:
        raise Unauthorized("unknown terminal key", code="unknown_key")
    if terminal.revoked:
        raise Unauthorized("this terminal key was revoked", code="key_revoked")
    secret = services.key_cache.decrypt(terminal.secret_blob, terminal_context(terminal.key_id)).decode()
    expected = signing.sign(secret, request.method, request.path, timestamp, nonce, request.body, request.claim)
    if not signing.signature_matches(expected, signature):
        raise Unauthorized("the request signature does not match", code="invalid_signature")
    return terminal


def _claim_nonce(services: Services, terminal: Terminal, nonce: str) -> None:
    expires = services.clock() + timedelta(seconds=services.settings.nonce_ttl_seconds)
    if not services.ephemeral.claim_nonce(f"nonce#{terminal.key_id}", nonce, expires):
        raise Unauthorized("this request was already used", code="nonce_reused")


def _check_throttles(
    services: Services, terminal: Terminal, claim: str | None, now: datetime, until: datetime | None
) -> None:
    if until is not None:
        wait = int((until - now).total_seconds()) + 1
        raise RateLimited("too many denied attempts; the door is cooling down", code="cooling_down", retry_after=wait)
    if claim is not None:
        count = services.ephemeral.hit(f"claims#{terminal.terminal_id}", 60, now)
        if count > services.settings.claim_attempts_per_minute:
            raise RateLimited("too many claim-code attempts from this terminal", retry_after=60)


def _count_denial(services: Services, terminal: Terminal, now: datetime) -> None:
    settings = services.settings
    denials = services.ephemeral.hit(f"denies#{terminal.terminal_id}", settings.deny_cooldown_window_seconds, now)
    if denials >= settings.deny_cooldown_threshold:
        services.ephemeral.block(
            f"cooldown#{terminal.terminal_id}", now + timedelta(seconds=settings.deny_cooldown_seconds)
        )


def verify(
    services: Services, request: SignedRequest, door_id: str, read_frames: Callable[[], Sequence[bytes]]
) -> VerifyOutcome:
    """Decide whether to open ``door_id`` for the face in the frames (1-3 images, fused).

    ``read_frames`` parses the body into images; it runs only after the terminal is authenticated.
    Without a claim code: closed-set 1:N against the visitors admitted at this door now, at the
    site's identify threshold, with the runner-up margin. With a claim code: 1:1 against that
    visitor at the claim threshold. A non-match is a normal ``deny``.

    Storage round trips overlap: after the signature check, the nonce write, the cool-down read and
    the site read (which carries the template version that revalidates the candidate cache) run
    while the frames are embedded; their verdicts (replay, cool-down) are applied before anything is
    decided or recorded. The audit write and the deny counter run together at the end.
    """
    started = time.perf_counter()
    terminal = _check_signature(services, request)
    now = services.clock()
    assert request.nonce is not None
    nonce_claimed = _IO.submit(_claim_nonce, services, terminal, request.nonce)
    cooldown = _IO.submit(services.ephemeral.blocked_until, f"cooldown#{terminal.terminal_id}", now)
    site_read = _IO.submit(require_site, services, terminal.site_id)
    if door_id not in terminal.door_ids:
        nonce_claimed.result()
        raise Forbidden("this terminal is not bound to this door", code="door_not_allowed")
    frames = read_frames()
    engine = services.engine()
    settings = services.settings
    claim = request.claim
    mode = DecisionMode.CLAIM if claim is not None else DecisionMode.IDENTIFY
    try:
        probe = engine.probe_template(list(frames))
    except FaceRejected:
        probe = None
    nonce_claimed.result()
    _check_throttles(services, terminal, request.claim, now, cooldown.result())
    site = site_read.result()
    identify_default, claim_threshold = thresholds.defaults(settings)
    identify_threshold = site.match_threshold if site.match_threshold is not None else identify_default
    threshold = claim_threshold if mode is DecisionMode.CLAIM else identify_threshold
    if probe is None:
        decision = Decision(False, DecisionReason.NO_FACE, mode, None, threshold)
    else:
        candidates = services.candidates.for_site(services.repo, services.key_cache, site)
        if claim is not None:
            code = tokens.normalize_claim_code(claim)
            data_key = services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))
            decision = (
                Decision(False, DecisionReason.CLAIM_UNKNOWN, mode, None, threshold)
                if code is None
                else verify_claim(
                    candidates,
                    probe.vector,
                    probe.model_id,
                    tokens.claim_hash(claim_key(data_key), code),
                    door_id,
                    now,
                    threshold,
                )
            )
        else:
            decision = identify(
                candidates, probe.vector, probe.model_id, door_id, now, threshold, settings.match_margin
            )
    decision_id = tokens.new_id("dec")
    unlock_token = None
    counted = None
    if decision.granted:
        door = _door(services, site.site_id, door_id)
        key = services.key_cache.decrypt(door.unlock_key_blob, door_context(door_id))
        unlock_token = tokens.issue_unlock_token(key, door_id, decision_id, now, settings.unlock_token_ttl_seconds)
    elif decision.reason in COUNTED_DENIALS:
        counted = _IO.submit(_count_denial, services, terminal, now)
    latency_ms = (time.perf_counter() - started) * 1000.0
    record_event(
        services,
        site.site_id,
        AuditKind.VERIFY,
        f"terminal:{terminal.terminal_id}",
        event_id=decision_id,
        visitor_id=decision.visitor_id,
        terminal_id=terminal.terminal_id,
        door_id=door_id,
        decision="grant" if decision.granted else "deny",
        reason=decision.reason.value,
        mode=decision.mode.value,
        similarity=decision.similarity,
        threshold=decision.threshold,
        model_id=engine.model_id,
        latency_ms=latency_ms,
        details={"candidates": str(decision.candidates), "frames": str(len(frames))},
    )
    if counted is not None:
        counted.result()
    return VerifyOutcome(decision, decision_id, unlock_token, engine.model_id, latency_ms, terminal.terminal_id)


def _door(services: Services, site_id: str, door_id: str) -> Door:
    """The door (doors never change once created, so a warm instance keeps them)."""
    door = _DOORS.get((site_id, door_id))
    if door is None:
        door = services.repo.get_door(site_id, door_id)
        if door is None:
            raise NotFound("door not found")
        _DOORS[(site_id, door_id)] = door
    return door

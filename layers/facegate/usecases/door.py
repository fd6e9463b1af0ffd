"""Door verification in four phases: authenticate → parse → decide → record.

The HTTP route runs :func:`authenticate`, parses the body into frames, then :func:`verify` embeds them,
asks the door policy (:mod:`facegate.domain.policy`) and records the decision.

Order matters: cheap checks that need no storage come first (header shape, clock skew), then the
key (revocation is read on every request) and the signature — no image is decoded for a request
that is not correctly signed. The nonce is recorded only for a valid signature (attackers cannot
burn nonces); the nonce, door-binding and cool-down verdicts are applied before anything is decided,
recorded or returned, while their storage round trips overlap with the face work.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from facegate.domain.matching import CandidateSet, claim_view, door_view, eligible_count
from facegate.domain.models import AuditKind, Decision, DecisionMode, DecisionReason, Door, Site, Terminal
from facegate.domain.policy import DoorPolicy
from facegate.errors import FaceRejected, Forbidden, NotFound, RateLimited, Unauthorized
from facegate.security import signing, tokens
from facegate.usecases.admin import require_site
from facegate.usecases.audit import record_event
from facegate.usecases.context import Services
from facegate.usecases.keys import door_context, site_context, terminal_context
from facegate.usecases.visitor import claim_key
from facegate.vision.types import Template

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


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A correctly signed terminal request, with its storage round trips under way.

    The nonce write, the cool-down read and the site read run in the background while the frames are
    parsed and embedded; :func:`verify` applies their verdicts before deciding anything.
    """

    terminal: Terminal
    door_id: str
    claim: str | None
    now: datetime
    started: float
    nonce_claimed: Future[None]
    cooldown: Future[datetime | None]
    site: Future[Site]


def authenticate(services: Services, request: SignedRequest, door_id: str) -> Authenticated:
    """Phase 1: the terminal, its signature and its binding to ``door_id`` (no image is touched).

    Raises:
        Unauthorized: missing/malformed headers, clock skew, unknown or revoked key, bad signature,
            reused nonce.
        Forbidden: ``door_not_allowed`` when the terminal is not bound to ``door_id``.
    """
    started = time.perf_counter()
    terminal = _check_signature(services, request)
    now = services.clock()
    assert request.nonce is not None
    nonce_claimed = _IO.submit(_claim_nonce, services, terminal, request.nonce)
    cooldown = _IO.submit(services.ephemeral.blocked_until, f"cooldown#{terminal.terminal_id}", now)
    site = _IO.submit(require_site, services, terminal.site_id)
    if door_id not in terminal.door_ids:
        nonce_claimed.result()
        raise Forbidden("this terminal is not bound to this door", code="door_not_allowed")
    return Authenticated(terminal, door_id, request.claim, now, started, nonce_claimed, cooldown, site)


def decide(
    policy: DoorPolicy,
    site: Site,
    candidates: CandidateSet,
    probe: Template | None,
    model_id: str,
    door_id: str,
    now: datetime,
    claim_hash: str | None,
    claimed: bool,
) -> Decision:
    """Phase 3: the door policy's decision (pure).

    ``model_id`` is the engine's; ``claimed`` says a claim code came with the frames and ``claim_hash`` is
    the keyed hash of that code when it is well-formed.
    """
    level = site.security_level
    mode = DecisionMode.CLAIM if claimed else DecisionMode.IDENTIFY
    if probe is None:
        return policy.no_face(level, mode, eligible_count(candidates, door_id, now, model_id))
    f = probe.n_images
    if claimed:
        n = eligible_count(candidates, door_id, now, probe.model_id)
        if claim_hash is None:
            return policy.decide_claim(level, None, None, 1, f, n)
        view = claim_view(candidates, probe.vector, probe.model_id, claim_hash, door_id, now)
        return policy.decide_claim(
            level, view.visitor_id, view.score, view.template_images, f, n, stale_model=view.stale_model
        )
    door = door_view(candidates, probe.vector, probe.model_id, door_id, now)
    return policy.decide_face_only(level, door.visitor_ids, door.scores.tolist(), door.template_images.tolist(), f)


def verify(services: Services, auth: Authenticated, frames: Sequence[bytes]) -> VerifyOutcome:
    """Phases 2-4 for parsed ``frames`` (1-3 images, fused): embed, decide, record.

    Without a claim code: closed-set 1:N against the visitors admitted at this door now, held to the
    site's level at this door's N (or ``claim_required`` where face-only entry is off). With a claim
    code: 1:1 against that visitor. A non-match is a normal ``deny``; the replay and cool-down verdicts
    of phase 1's background reads are applied before anything is decided or recorded.
    """
    engine = services.engine()
    try:
        probe: Template | None = engine.probe_template(list(frames))
    except FaceRejected:
        probe = None
    terminal = auth.terminal
    auth.nonce_claimed.result()
    _check_throttles(services, terminal, auth.claim, auth.now, auth.cooldown.result())
    site = auth.site.result()
    candidates = services.candidates.for_site(services.repo, services.key_cache, site)
    claim_hash = None
    if auth.claim is not None:
        code = tokens.normalize_claim_code(auth.claim)
        if code is not None:
            data_key = services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))
            claim_hash = tokens.claim_hash(claim_key(data_key), code)
    decision = decide(
        services.door_policy(),
        site,
        candidates,
        probe,
        engine.model_id,
        auth.door_id,
        auth.now,
        claim_hash,
        auth.claim is not None,
    )
    return _record(services, auth, site, decision, engine.model_id, len(frames))


def _record(
    services: Services, auth: Authenticated, site: Site, decision: Decision, model_id: str, n_frames: int
) -> VerifyOutcome:
    """Phase 4: unlock token on a grant, the deny counter, and the audit record (the only place the
    similarity, threshold and precise reason are kept)."""
    terminal = auth.terminal
    decision_id = tokens.new_id("dec")
    unlock_token = None
    counted = None
    if decision.granted:
        door = _door(services, site.site_id, auth.door_id)
        key = services.key_cache.decrypt(door.unlock_key_blob, door_context(auth.door_id))
        unlock_token = tokens.issue_unlock_token(
            key, auth.door_id, decision_id, auth.now, services.settings.unlock_token_ttl_seconds
        )
    elif decision.reason in COUNTED_DENIALS:
        counted = _IO.submit(_count_denial, services, terminal, auth.now)
    latency_ms = (time.perf_counter() - auth.started) * 1000.0
    details = {
        "level": decision.level.value,
        "candidates": str(decision.n_candidates),
        "frames": str(n_frames),
        "probe_frames": str(decision.f),
    }
    if decision.k is not None:
        details["template_images"] = str(decision.k)
    if decision.runner_up is not None:
        details["runner_up"] = f"{decision.runner_up:.4f}"
    record_event(
        services,
        site.site_id,
        AuditKind.VERIFY,
        f"terminal:{terminal.terminal_id}",
        event_id=decision_id,
        visitor_id=decision.visitor_id,
        terminal_id=terminal.terminal_id,
        door_id=auth.door_id,
        decision="grant" if decision.granted else "deny",
        reason=decision.reason.value,
        mode=decision.mode.value,
        similarity=decision.similarity,
        threshold=decision.threshold,
        model_id=model_id,
        latency_ms=latency_ms,
        details=details,
    )
    if counted is not None:
        counted.result()
    return VerifyOutcome(decision, decision_id, unlock_token, model_id, latency_ms, terminal.terminal_id)


def _door(services: Services, site_id: str, door_id: str) -> Door:
    """The door (doors never change once created, so a warm instance keeps them)."""
    door = _DOORS.get((site_id, door_id))
    if door is None:
        door = services.repo.get_door(site_id, door_id)
        if door is None:
            raise NotFound("door not found")
        _DOORS[(site_id, door_id)] = door
    return door

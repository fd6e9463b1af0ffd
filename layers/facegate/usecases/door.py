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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from facegate.domain.matching import CandidateSet, claim_view, door_view, eligible_count
from facegate.domain.models import (
    AuditKind,
    Challenge,
    Decision,
    DecisionMode,
    DecisionReason,
    Door,
    Hint,
    Movement,
    Site,
    Terminal,
)
from facegate.domain.policy import DoorPolicy
from facegate.errors import FaceRejected, Forbidden, InvalidRequest, NotFound, RateLimited, Unauthorized
from facegate.security import signing, tokens
from facegate.usecases import delivery, liveness
from facegate.usecases.audit import record_event
from facegate.usecases.context import Services
from facegate.usecases.keys import door_context, site_context, terminal_context
from facegate.usecases.shared import claim_key, require_site
from facegate.vision.quality import LOWER_FACE_COVERED
from facegate.vision.types import Template

TIMESTAMP = re.compile(r"[0-9]{1,12}")
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")

_IO = ThreadPoolExecutor(max_workers=4, thread_name_prefix="facegate-io")
"""Overlaps independent storage round trips of one request (boto3 clients are thread-safe)."""
_DOORS: dict[tuple[str, str], Door] = {}

COUNTED_DENIALS = frozenset(
    {
        DecisionReason.NO_MATCH,
        DecisionReason.AMBIGUOUS,
        DecisionReason.CLAIM_MISMATCH,
        DecisionReason.CLAIM_UNKNOWN,
        DecisionReason.LIVENESS_FAILED,
    }
)
"""Denials that count towards a terminal's cool-down (an empty frame does not)."""
CLAIM_CODE_DENIALS = frozenset({DecisionReason.CLAIM_MISMATCH})
"""Denials that count towards a claim code's block: the code named a visitor whose face did not match."""
COOLING_DOWN = "cooling_down"
"""Alarm code: a terminal's cool-down started (face-only matching suspended there)."""
CLAIM_BLOCKED = "claim_blocked"
"""Alarm code: a claim code's block started."""


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
    challenge: str | None = None
    """``X-Facegate-Challenge``: the id of the head-turn challenge the frames answer."""
    liveness: str | None = None
    """``X-Facegate-Liveness``: the terminal's own liveness verdict (``passed`` or ``failed``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOutcome:
    decision: Decision
    decision_id: str
    unlock_token: str | None
    model_id: str
    latency_ms: float
    terminal_id: str
    alarms: tuple[str, ...] = ()
    """Back-off alarms this decision raised (``cooling_down``, ``claim_blocked``): the route counts them."""
    first_arrival: bool = False
    """A grant that set the invite's ``arrived_at`` (the visitor's first entry)."""


def _check_headers(services: Services, request: SignedRequest) -> tuple[str, str, str, str]:
    """Header shape and clock skew: no storage involved."""
    if not (request.key_id and request.timestamp and request.nonce and request.signature):
        raise Unauthorized("signed request headers are missing", code="missing_signature")
    nonce_ok = signing.MIN_NONCE_LENGTH <= len(request.nonce) <= signing.MAX_NONCE_LENGTH
    if not (TIMESTAMP.fullmatch(request.timestamp) and KEY_ID.fullmatch(request.key_id) and nonce_ok):
        raise Unauthorized("signed request headers are malformed", code="missing_signature")
    if abs(services.clock().timestamp() - int(request.timestamp)) > services.settings.clock_skew_seconds:
        raise Unauthorized("the request timestamp is too far from server time", code="clock_skew")
    if request.challenge is not None and not CHALLENGE_ID.fullmatch(request.challenge):
        raise InvalidRequest("X-Facegate-Challenge must be a challenge id", code="invalid_header")
    if request.liveness is not None and request.liveness not in liveness.VERDICTS:
        raise InvalidRequest("X-Facegate-Liveness must be passed or failed", code="invalid_header")
    if request.claim is not None and "=" in request.claim:
        raise InvalidRequest("X-Facegate-Claim is not a claim code", code="invalid_header")
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
    canonical = signing.canonical_string(
        request.method, request.path, timestamp, nonce, request.body, request.claim, request.challenge, request.liveness
    )
    expected = signing.sign(secret, canonical)
    if not signing.signature_matches(expected, signature):
        raise Unauthorized("the request signature does not match", code="invalid_signature")
    return terminal


def _claim_nonce(services: Services, terminal: Terminal, nonce: str) -> None:
    expires = services.clock() + timedelta(seconds=services.settings.nonce_ttl_seconds)
    if not services.ephemeral.claim_nonce(f"nonce#{terminal.key_id}", nonce, expires):
        raise Unauthorized("this request was already used", code="nonce_reused")


def _check_throttles(services: Services, terminal: Terminal, claim: str | None, now: datetime) -> None:
    """The per-terminal claim-attempt limit (429 ``rate_limited``). A terminal's cool-down is no refusal: it
    suspends face-only matching there (:func:`held_back`), so the next visitor can still show their code."""
    if claim is not None:
        count = services.ephemeral.hit(f"claims#{terminal.terminal_id}", 60, now)
        if count > services.settings.claim_attempts_per_minute:
            raise RateLimited("too many claim-code attempts from this terminal", retry_after=60)


def claim_block_key(site_id: str, claim_hash: str) -> str:
    """The ephemeral key of a claim code's block (the keyed hash, never the code)."""
    return f"claimblock#{site_id}#{claim_hash}"


def _count_denial(
    services: Services, auth: Authenticated, site_id: str, decision: Decision, claim_hash: str | None
) -> tuple[str, ...]:
    """Count one deny towards the terminal's cool-down and, for a claim mismatch, the claim code's block.

    ``deny_cooldown_threshold`` denies at the terminal within ``deny_cooldown_window_seconds`` suspend its
    face-only matching for ``deny_cooldown_seconds``; ``claim_code_deny_threshold`` mismatches with one code at
    any terminal of the site within ``claim_code_deny_window_seconds`` block the code for
    ``claim_code_block_seconds``. A block that starts is an alarm: audited (kind ``cooldown``) and returned.
    """
    settings, ephemeral, now = services.settings, services.ephemeral, auth.now
    terminal_id = auth.terminal.terminal_id
    alarms: list[str] = []
    denials = ephemeral.hit(f"denies#{terminal_id}", settings.deny_cooldown_window_seconds, now)
    if denials >= settings.deny_cooldown_threshold:
        ephemeral.block(f"cooldown#{terminal_id}", now + timedelta(seconds=settings.deny_cooldown_seconds))
        if auth.cooldown.result() is None:
            _alarm(services, auth, site_id, "terminal", denials, settings.deny_cooldown_seconds)
            alarms.append(COOLING_DOWN)
    if claim_hash is not None and decision.reason in CLAIM_CODE_DENIALS:
        key = claim_block_key(site_id, claim_hash)
        mismatches = ephemeral.hit(f"claimdenies#{site_id}#{claim_hash}", settings.claim_code_deny_window_seconds, now)
        if mismatches >= settings.claim_code_deny_threshold:
            ephemeral.block(key, now + timedelta(seconds=settings.claim_code_block_seconds))
            _alarm(services, auth, site_id, "claim_code", mismatches, settings.claim_code_block_seconds)
            alarms.append(CLAIM_BLOCKED)
    return tuple(alarms)


def _alarm(services: Services, auth: Authenticated, site_id: str, scope: str, denials: int, seconds: int) -> None:
    """Audit a back-off that starts (``scope`` ``terminal`` or ``claim_code``; never the code itself)."""
    record_event(
        services,
        site_id,
        AuditKind.COOLDOWN,
        f"terminal:{auth.terminal.terminal_id}",
        terminal_id=auth.terminal.terminal_id,
        door_id=auth.door_id,
        reason=COOLING_DOWN if scope == "terminal" else CLAIM_BLOCKED,
        details={"scope": scope, "denials": str(denials), "seconds": str(seconds)},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
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
    challenge: Future[Challenge | None] | None = None
    """The named challenge, taken out of storage (single use); None when the request names none."""
    seen_fingerprints: Future[list[int]] | None = None
    """Fingerprints of frames of earlier accepted challenges at this door (with a challenge only)."""
    liveness_verdict: str | None = None


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
    site = _IO.submit(_open_site, services, terminal.site_id, door_id)
    if door_id not in terminal.door_ids:
        nonce_claimed.result()
        raise Forbidden("this terminal is not bound to this door", code="door_not_allowed")
    challenge = seen = None
    if request.challenge is not None:
        challenge = _IO.submit(services.ephemeral.take_challenge, request.challenge, now)
        window = services.settings.liveness_replay_seconds
        scope = liveness.fingerprint_scope(terminal.site_id, door_id)
        seen = _IO.submit(services.ephemeral.recent_fingerprints, scope, window, now)
    return Authenticated(
        terminal=terminal,
        door_id=door_id,
        claim=request.claim,
        now=now,
        started=started,
        nonce_claimed=nonce_claimed,
        cooldown=cooldown,
        site=site,
        challenge=challenge,
        seen_fingerprints=seen,
        liveness_verdict=request.liveness,
    )


def issue_challenge(
    services: Services, auth: Authenticated, movements: Sequence[Movement] = liveness.MOVEMENTS
) -> Challenge:
    """A new head-turn challenge for the authenticated terminal at ``auth.door_id`` (stored, single use),
    drawn from ``movements`` (the terminal may restrict them, see :func:`liveness.new_steps`).

    A terminal that is cooling down still gets one (its face-only matching is suspended, not its door).

    Raises:
        Unauthorized: ``nonce_reused``.
    """
    auth.nonce_claimed.result()
    auth.site.result()
    challenge = Challenge(
        challenge_id=tokens.new_id("chl"),
        terminal_id=auth.terminal.terminal_id,
        door_id=auth.door_id,
        steps=liveness.new_steps(movements=movements),
        issued_at=auth.now,
        expires_at=auth.now + timedelta(seconds=services.settings.challenge_ttl_seconds),
    )
    services.ephemeral.put_challenge(challenge)
    return challenge


def held_back(
    policy: DoorPolicy,
    site: Site,
    candidates: CandidateSet,
    probe: Template | None,
    door_id: str,
    now: datetime,
    *,
    claimed: bool,
    cooling: bool,
    code_blocked: bool,
) -> Decision | None:
    """Phase 3's back-offs (pure): a deny without any comparison, or None to decide as usual.

    With a usable face: a blocked claim code is not compared (``claim_blocked``: see reception); without a
    code, a terminal that is cooling down does no face-only matching (``face_only_suspended``: show the
    code). The claim mode stays open during a terminal's cool-down, so one stranger's denials never keep
    the next visitor out. Frames without a face are answered ``retry`` as always (:func:`decide`).
    """
    if probe is None or not (code_blocked or (cooling and not claimed)):
        return None
    n = eligible_count(candidates, door_id, now, probe.model_id)
    if claimed:
        return policy.claim_blocked(site.security_level, n, probe.n_images)
    return policy.face_only_suspended(site.security_level, n, probe.n_images)


def with_hint(decision: Decision, probe: Template | None) -> Decision:
    """A deny of a probe whose frames' quality reports say the lower face is covered gets ``lower_mask``.

    The hint follows from the probe alone (never from who is expected at the door), so it is public.
    """
    if decision.granted or probe is None or not any(LOWER_FACE_COVERED in q.flags for q in probe.quality):
        return decision
    return replace(decision, hint=Hint.LOWER_MASK)


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
    liveness_passed: bool | None = None,
) -> Decision:
    """Phase 3: the door policy's decision (pure).

    ``model_id`` is the engine's; ``claimed`` says a claim code came with the frames and ``claim_hash`` is
    the keyed hash of that code when it is well-formed. ``liveness_passed``: the liveness evidence (True
    passed, False failed: a deny before any matching, None: none).
    """
    level = site.security_level
    mode = DecisionMode.CLAIM if claimed else DecisionMode.IDENTIFY
    if liveness_passed is False:
        return policy.liveness_failed(level, mode, eligible_count(candidates, door_id, now, model_id))
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
    return policy.decide_face_only(
        level, door.visitor_ids, door.scores.tolist(), door.template_images.tolist(), f, liveness_passed
    )


def verify(services: Services, auth: Authenticated, frames: Sequence[bytes]) -> VerifyOutcome:
    """Phases 2-4 for parsed ``frames`` (1-3 images, fused): embed, decide, record.

    Without a claim code: closed-set 1:N against the visitors admitted at this door now, held to the
    site's level at this door's N (or ``claim_required`` where face-only entry is off). With a claim
    code: 1:1 against that visitor. A non-match is a normal ``deny``; the replay and cool-down verdicts
    of phase 1's background reads are applied before anything is decided or recorded. During the
    terminal's cool-down face-only matching is suspended and a blocked claim code is not compared
    (:func:`held_back`); a deny of a masked face carries ``hint`` ``lower_mask`` (:func:`with_hint`).
    """
    engine = services.engine()
    checked: liveness.LivenessResult | None = None
    probe: Template | None
    if auth.challenge is not None and auth.seen_fingerprints is not None:
        challenge, seen = auth.challenge.result(), auth.seen_fingerprints.result()
        checked = liveness.check_challenge_frames(
            engine, challenge, auth.terminal, auth.door_id, frames, seen, auth.now
        )
        probe = checked.probe
    else:
        try:
            probe = engine.probe_template(list(frames))
        except FaceRejected:
            probe = None
    terminal = auth.terminal
    auth.nonce_claimed.result()
    _check_throttles(services, terminal, auth.claim, auth.now)
    site = auth.site.result()
    live = liveness.combine(checked, liveness.attestation(terminal, site, auth.liveness_verdict))
    claim_hash = None
    if auth.claim is not None:
        code = tokens.normalize_claim_code(auth.claim)
        if code is not None:
            data_key = services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))
            claim_hash = tokens.claim_hash(claim_key(data_key), code)
    code_block = None
    if claim_hash is not None:
        code_block = _IO.submit(services.ephemeral.blocked_until, claim_block_key(site.site_id, claim_hash), auth.now)
    candidates = services.candidates.for_site(services.repo, services.key_cache, site)
    policy = services.door_policy()
    decision = held_back(
        policy,
        site,
        candidates,
        probe,
        auth.door_id,
        auth.now,
        claimed=auth.claim is not None,
        cooling=auth.cooldown.result() is not None,
        code_blocked=code_block is not None and code_block.result() is not None,
    ) or decide(
        policy,
        site,
        candidates,
        probe,
        engine.model_id,
        auth.door_id,
        auth.now,
        claim_hash,
        auth.claim is not None,
        live.passed,
    )
    decision = with_hint(decision, probe)
    return _record(services, auth, site, decision, engine.model_id, len(frames), live, claim_hash)


def _record(
    services: Services,
    auth: Authenticated,
    site: Site,
    decision: Decision,
    model_id: str,
    n_frames: int,
    live: liveness.LivenessResult = liveness.NO_EVIDENCE,
    claim_hash: str | None = None,
) -> VerifyOutcome:
    """Phase 4: unlock token on a grant, the deny counter, the fingerprints of a passed challenge's frames,
    and the audit record (the only place the similarity, threshold, precise reason and liveness sub-reason are
    kept). A grant ends the terminal's cool-down; a counted deny may start it or block the claim code."""
    terminal = auth.terminal
    remembered = None
    if live.fingerprints:
        scope = liveness.fingerprint_scope(site.site_id, auth.door_id)
        window = services.settings.liveness_replay_seconds
        remembered = _IO.submit(services.ephemeral.remember_fingerprints, scope, live.fingerprints, window, auth.now)
    decision_id = tokens.new_id("dec")
    unlock_token = None
    counted: Future[tuple[str, ...]] | None = None
    cleared = None
    arrived: Future[bool] | None = None
    if decision.granted and decision.visitor_id is not None:
        arrived = _IO.submit(services.repo.mark_arrived, decision.visitor_id, auth.now)
    # The EventBridge event overlaps the audit write (it waits for the arrival mark only); it never raises.
    event = delivery.DoorDecided(
        site_id=site.site_id,
        door_id=auth.door_id,
        terminal_id=terminal.terminal_id,
        decision=decision,
        decision_id=decision_id,
        at=auth.now,
    )
    announced = _IO.submit(delivery.announce_decision, services, event, arrived)
    if decision.granted:
        if auth.cooldown.result() is not None:
            cleared = _IO.submit(services.ephemeral.block, f"cooldown#{terminal.terminal_id}", auth.now)
        door = _door(services, site.site_id, auth.door_id)
        key = services.key_cache.decrypt(door.unlock_key_blob, door_context(auth.door_id))
        unlock_token = tokens.issue_unlock_token(
            key, auth.door_id, decision_id, auth.now, services.settings.unlock_token_ttl_seconds
        )
    elif decision.reason in COUNTED_DENIALS:
        counted = _IO.submit(_count_denial, services, auth, site.site_id, decision, claim_hash)
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
    if decision.hint is not None:
        details["hint"] = decision.hint.value
    details.update(live.audit_details())
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
    alarms = () if counted is None else counted.result()
    if cleared is not None:
        cleared.result()
    if remembered is not None:
        remembered.result()
    first = arrived.result() if arrived is not None else False
    announced.result()
    return VerifyOutcome(
        decision=decision,
        decision_id=decision_id,
        unlock_token=unlock_token,
        model_id=model_id,
        latency_ms=latency_ms,
        terminal_id=terminal.terminal_id,
        alarms=alarms,
        first_arrival=first,
    )


def _open_site(services: Services, site_id: str, door_id: str) -> Site:
    """The terminal's site, if it and the door are in service (one read each, never cached: a retirement
    is seen by the very next request).

    Raises:
        Forbidden: ``site_retired`` or ``door_retired``.
        NotFound: the site or the door no longer exists.
    """
    site = require_site(services, site_id)
    if site.retired_at is not None:
        raise Forbidden("this site was retired", code="site_retired")
    door = services.repo.get_door(site_id, door_id)
    if door is None:
        raise NotFound("door not found")
    if door.retired_at is not None:
        raise Forbidden("this door was retired", code="door_retired")
    return site


def _door(services: Services, site_id: str, door_id: str) -> Door:
    """The door (doors never change once created, so a warm instance keeps them)."""
    door = _DOORS.get((site_id, door_id))
    if door is None:
        door = services.repo.get_door(site_id, door_id)
        if door is None:
            raise NotFound("door not found")
        _DOORS[(site_id, door_id)] = door
    return door

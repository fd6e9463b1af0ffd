"""Domain records of facegate: sites, doors, terminals, invites, consent, templates, decisions, audit.

Plain frozen dataclasses, no I/O. Times are timezone-aware UTC ``datetime`` objects; stored as
RFC 3339 strings or epoch seconds by the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def utcnow() -> datetime:
    """The current time, UTC, second precision (what every record stores)."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """Format a UTC time as ``2026-11-28T09:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an explicit offset) into an aware UTC datetime.

    Raises:
        ValueError: not RFC 3339 or without a time-zone offset.
    """
    value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time-zone offset, e.g. 2026-11-28T09:00:00Z")
    return value.astimezone(UTC)


class SecurityLevel(StrEnum):
    """How much a site trades convenience for security (targets in ``facegate.domain.policy.LEVELS``)."""

    STANDARD = "standard"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Site:
    """A building (or campus) with its own doors, visitors, security level and data key.

    Attributes:
        security_level: what the door policy promises at this site's doors (thresholds follow from it).
        data_key_blob: the site's AES-256 data key, encrypted by KMS (never stored in plaintext).
        template_version: bumped on every enrollment and erasure; caches revalidate against it.
    """

    site_id: str
    name: str
    timezone: str
    created_at: datetime
    data_key_blob: bytes
    security_level: SecurityLevel = SecurityLevel.STANDARD
    template_version: int = 0
    accept_terminal_liveness: bool = False
    """Accept the signed liveness verdict of terminals registered with ``attests_liveness`` in place of the
    head-turn challenge (a trust decision of the site owner, audited per decision)."""
    retired_at: datetime | None = None
    """Set when an admin retired the site: no new doors, terminals or invites; its doors deny."""


@dataclass(frozen=True, slots=True)
class SiteChanges:
    """What an admin changes on a site (None = unchanged; other attributes are never touched)."""

    name: str | None = None
    security_level: SecurityLevel | None = None
    accept_terminal_liveness: bool | None = None

    def changed(self) -> dict[str, Any]:
        """The attributes to set, by :class:`Site` field name (those that are not None)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Door:
    """A door of a site. ``unlock_key_blob`` is the KMS-encrypted key that signs unlock tokens."""

    door_id: str
    site_id: str
    name: str
    created_at: datetime
    unlock_key_blob: bytes
    retired_at: datetime | None = None
    """Set when an admin retired the door: terminals can no longer open it."""


@dataclass(frozen=True, slots=True)
class Terminal:
    """A door terminal (camera + client) bound to one site and some of its doors.

    Attributes:
        key_id: public id of the terminal's current HMAC key.
        secret_blob: the HMAC secret, KMS-encrypted.
        revoked_at: set when the key is revoked; a revoked terminal is rejected at once.
    """

    terminal_id: str
    site_id: str
    name: str
    door_ids: tuple[str, ...]
    key_id: str
    secret_blob: bytes
    created_at: datetime
    revoked_at: datetime | None = None
    attests_liveness: bool = False
    """The terminal has its own presentation-attack detection and signs its verdict
    (``X-Facegate-Liveness``); the site decides whether to accept it (``Site.accept_terminal_liveness``)."""
    paired_at: datetime | None = None
    """When a kiosk last took this terminal's credentials with a pairing code."""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class InviteState(StrEnum):
    """Where a visitor is in the flow (what ``GET /register/{token}/status`` reports)."""

    INVITED = "invited"
    CONSENTED = "consented"
    ENROLLED = "enrolled"
    ERASED = "erased"
    EXPIRED = "expired"
    REENROLL_REQUIRED = "reenroll_required"
    """Enrolled, but the template was made by a model the doors no longer use: new selfies are needed."""


@dataclass(frozen=True, slots=True)
class Consent:
    """The visitor's explicit consent: which notice version, when."""

    version: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class Invite:
    """An invitation of one visitor to a site, for some doors, during a time window.

    The visitor is identified by the invite: ``invite_id`` is also the visitor id of the template.

    Attributes:
        token_hash: hex SHA-256 of the invite token (the token itself is never stored).
        consent: present once the visitor consented (and absent again after erasure).
        claim_code_ct: the claim code, encrypted with the site data key (shown to the visitor again on reload).
        revoked_at: set when a host or admin erased the invite; the token stops working.
    """

    invite_id: str
    site_id: str
    door_ids: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    token_hash: str
    created_at: datetime
    created_by: str
    display_name: str | None = None
    consent: Consent | None = None
    enrolled_at: datetime | None = None
    claim_code_ct: bytes | None = None
    erased_at: datetime | None = None
    revoked_at: datetime | None = None
    email: str | None = None
    """The visitor's e-mail address for the invite mail; kept only as long as the invite, erased with it."""
    notify_on_arrival: bool = False
    """E-mail the host (``host_email``) on the visitor's first grant at a door."""
    host_email: str | None = None
    """The inviting host's e-mail (the token's ``email`` claim at creation): where arrival notices go."""
    link_ct: bytes | None = None
    """The registration link sealed with the site data key (so the invite mail can be resent); erased with
    the invite's personal data."""
    arrived_at: datetime | None = None
    """The visitor's first grant at a door (set once)."""

    def state(self, now: datetime) -> InviteState:
        """The visitor-facing state at ``now``."""
        if now >= self.valid_until:
            return InviteState.EXPIRED
        if self.enrolled_at is not None:
            return InviteState.ENROLLED
        if self.consent is not None:
            return InviteState.CONSENTED
        if self.erased_at is not None:
            return InviteState.ERASED
        return InviteState.INVITED

    def covers(self, door_id: str, now: datetime) -> bool:
        """True when this invite admits ``door_id`` at ``now`` (window is [valid_from, valid_until))."""
        return door_id in self.door_ids and self.valid_from <= now < self.valid_until

    def erasure_items(self, has_template: bool, revoke: bool) -> tuple[str, ...]:
        """What erasing this visitor removes, in receipt order: ``template`` (when one is stored), the personal
        data the invite holds (``claim_code``, ``consent``, ``email``, ``arrival``) and, when a host or admin
        revokes the invite, ``invite_token`` and ``display_name``."""
        held: dict[str, object] = {
            "claim_code": self.claim_code_ct,
            "consent": self.consent,
            "email": self.email,
            "arrival": self.arrived_at,
        }
        items = ["template"] if has_template else []
        items += [kind for kind, value in held.items() if value is not None]
        if revoke:
            items.append("invite_token")
            if self.display_name:
                items.append("display_name")
        return tuple(items)


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligible:
    """An enrolled visitor as the door matcher needs them, besides the template: who, which model made the
    template, where and when it may open doors. Stored rows and the matcher's candidates extend it.

    Attributes:
        claim_hash: keyed hash of the claim code (HMAC with a key derived from the site data key).
        valid_from, valid_until: copied from the invite so matching needs no second read.
        n_images: K, how many selfies the template fuses (the policy's thresholds depend on it).
    """

    visitor_id: str
    model_id: str
    door_ids: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    claim_hash: str
    n_images: int = 1

    def eligibility(self) -> dict[str, Any]:
        """The :class:`Eligible` fields by name (to build another record of the same visitor)."""
        return {item.name: getattr(self, item.name) for item in fields(Eligible)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateRow(Eligible):
    """What the matcher needs of a stored template (read with a projection when a cache is built)."""

    ciphertext: bytes
    """AES-GCM(site data key) of the 128 float32 values, nonce prepended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTemplate(CandidateRow):
    """A visitor's encrypted template as stored (one per visitor; a new enrollment replaces it)."""

    site_id: str
    enrolled_at: datetime


class DecisionMode(StrEnum):
    IDENTIFY = "identify"
    CLAIM = "claim"


class DecisionReason(StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    AMBIGUOUS = "ambiguous"
    NO_CANDIDATES = "no_candidates"
    NO_FACE = "no_face"
    CLAIM_MISMATCH = "claim_mismatch"
    CLAIM_UNKNOWN = "claim_unknown"
    CLAIM_REQUIRED = "claim_required"
    """Face-only entry is off at this door (no threshold meets the level's target at its N)."""
    REENROLL_REQUIRED = "reenroll_required"
    """The claimed visitor's template was made by another model: new selfies are needed."""
    FACE_ONLY_SUSPENDED = "face_only_suspended"
    """This terminal is cooling down after repeated denials: face-only matching is suspended (the claim code
    still works), so one stranger's attempts cannot lock the door for the next visitor."""
    CLAIM_BLOCKED = "claim_blocked"
    """The claim code is blocked after repeated denials with it: not compared (a stolen code cannot be tried on)."""
    LIVENESS_FAILED = "liveness_failed"
    """The head-turn challenge (or the terminal's attested check) failed; checked before any matching."""


class NextStep(StrEnum):
    """What the kiosk tells the person at the door after a deny (all the terminal learns)."""

    SHOW_CODE = "show_code"
    RETRY = "retry"
    SEE_RECEPTION = "see_reception"


NEXT_STEP: dict[DecisionReason, NextStep] = {
    DecisionReason.NO_FACE: NextStep.RETRY,
    DecisionReason.NO_MATCH: NextStep.SHOW_CODE,
    DecisionReason.AMBIGUOUS: NextStep.SHOW_CODE,
    DecisionReason.CLAIM_REQUIRED: NextStep.SHOW_CODE,
    DecisionReason.NO_CANDIDATES: NextStep.SHOW_CODE,
    DecisionReason.CLAIM_MISMATCH: NextStep.SEE_RECEPTION,
    DecisionReason.CLAIM_UNKNOWN: NextStep.SEE_RECEPTION,
    DecisionReason.REENROLL_REQUIRED: NextStep.SEE_RECEPTION,
    DecisionReason.FACE_ONLY_SUSPENDED: NextStep.SHOW_CODE,
    DecisionReason.CLAIM_BLOCKED: NextStep.SEE_RECEPTION,
    DecisionReason.LIVENESS_FAILED: NextStep.RETRY,
}
"""The public next step of every deny reason (the reason itself goes to the audit log only)."""


class Hint(StrEnum):
    """A deny's advice about the probe itself (never about who is expected at the door)."""

    LOWER_MASK = "lower_mask"
    """The door frames' quality reports say the lower face is covered: please lower the mask."""


class Movement(StrEnum):
    """A head movement a challenge asks for (the visitor's own left/right: the kiosk shows a mirror)."""

    STRAIGHT = "straight"
    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Challenge:
    """A head-turn challenge issued to one terminal for one door; accepted once, until ``expires_at``.

    Attributes:
        steps: the movements asked for, in order (the first is always ``straight``).
    """

    challenge_id: str
    terminal_id: str
    door_id: str
    steps: tuple[Movement, ...]
    issued_at: datetime
    expires_at: datetime


class LivenessEvidence(StrEnum):
    """Which liveness evidence a door decision used (recorded in the audit)."""

    NONE = "none"
    CHALLENGE = "challenge"
    TERMINAL = "terminal"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of a door verification (built by ``facegate.domain.policy`` with keywords).

    Attributes:
        level: the site's security level the decision was made under.
        similarity: best cosine similarity in [-1, 1], None when nothing was compared (audit only).
        threshold: the threshold that applied (cosine), None when none did (audit only).
        visitor_id: who was granted, or who must enroll again (``reenroll_required``); None on other denies.
            Audit only: never returned to the terminal.
        runner_up: second-best similarity in identify mode (audit only).
        n_candidates: N, the visitors eligible at this door now (same model).
        k: images fused in the compared template; f: frames fused in the probe.
        hint: on a deny, advice that follows from the probe alone (e.g. ``lower_mask``); None otherwise.
    """

    granted: bool
    reason: DecisionReason
    mode: DecisionMode
    level: SecurityLevel
    threshold: float | None = None
    similarity: float | None = None
    visitor_id: str | None = None
    runner_up: float | None = None
    n_candidates: int = 0
    k: int | None = None
    f: int = 0
    hint: Hint | None = None

    @property
    def next_step(self) -> NextStep | None:
        """What the person at the door should do next (None on a grant)."""
        return None if self.granted else NEXT_STEP[self.reason]


class AuditKind(StrEnum):
    VERIFY = "verify"
    ENROLL = "enroll"
    ENROLL_REFUSED = "enroll_refused"
    CONSENT = "consent"
    ERASE = "erase"
    INVITE = "invite"
    TERMINAL_REVOKED = "terminal_revoked"
    REFUSED = "refused"
    """A terminal request refused before any decision (bad signature with a known key, wrong door,
    cool-down, rate limit): the reason is the error code."""
    SITE_UPDATED = "site_updated"
    SITE_RETIRED = "site_retired"
    DOOR_RETIRED = "door_retired"
    TERMINAL_ROTATED = "terminal_rotated"
    PAIRING_ISSUED = "pairing_issued"
    TERMINAL_PAIRED = "terminal_paired"
    HOST_CREATED = "host_created"
    HOST_DISABLED = "host_disabled"
    COOLDOWN = "cooldown"
    """An alarm: repeated denials suspended a terminal's face-only matching or blocked a claim code
    (``details``: scope ``terminal`` or ``claim_code``, denials, seconds)."""
    INVITE_MAILED = "invite_mailed"
    """A host or admin sent an invite's mail again (``details``: ``result`` sent or failed; never the address)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited event. Never holds an image, a template, a token or a secret.

    Attributes:
        latency_ms: server-side processing time of the request, milliseconds.
        expires_at: when DynamoDB TTL may delete the record.
    """

    site_id: str
    event_id: str
    kind: AuditKind
    at: datetime
    expires_at: datetime
    actor: str
    door_id: str | None = None
    terminal_id: str | None = None
    visitor_id: str | None = None
    decision: str | None = None
    reason: str | None = None
    mode: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    model_id: str | None = None
    latency_ms: float | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """What an erasure removed, for the person who asked.

    ``items`` names each kind of data removed (e.g. ``template``, ``consent``, ``claim_code``).
    """

    erased_at: datetime
    items: tuple[str, ...]
    invite_id: str | None = None


@dataclass(frozen=True, slots=True)
class PairingCode:
    """A one-time kiosk pairing code as stored: only the hash of the code, never the code itself.

    Attributes:
        code_hash: hex SHA-256 of the normalised code.
        expires_at: the code is refused from this moment on (at most 10 minutes after ``issued_at``).
    """

    code_hash: str
    terminal_id: str
    site_id: str
    issued_at: datetime
    expires_at: datetime
    issued_by: str


@dataclass(frozen=True, slots=True)
class HostUser:
    """A host user of the user directory (Cognito group ``hosts``).

    Attributes:
        username: the directory's user name (Cognito: the user's ``sub`` when e-mail is the sign-in alias).
        site_ids: the sites the host may invite to (``custom:site_ids``).
    """

    username: str
    email: str
    name: str
    site_ids: tuple[str, ...]
    enabled: bool
    created_at: datetime
    sub: str | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit records a query keeps (None = any): door, decision (``grant``/``deny``/...), event kind."""

    door_id: str | None = None
    decision: str | None = None
    kind: AuditKind | None = None

    def keeps(self, record: AuditRecord) -> bool:
        """True when ``record`` passes every set criterion."""
        return (
            (self.door_id is None or record.door_id == self.door_id)
            and (self.decision is None or record.decision == self.decision)
            and (self.kind is None or record.kind == self.kind)
        )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit records a query reads: those of ``site_id`` with ``start <= at < end`` that ``filters`` keeps
    (None: all)."""

    site_id: str
    start: datetime
    end: datetime
    filters: AuditFilter | None = None

    def keeps(self, record: AuditRecord) -> bool:
        """True when ``record`` is of this site, in this window and passes the filters."""
        in_window = record.site_id == self.site_id and self.start <= record.at < self.end
        return in_window and (self.filters is None or self.filters.keeps(record))

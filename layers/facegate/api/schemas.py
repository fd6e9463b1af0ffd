"""Request and response bodies of the HTTP API (pydantic models; they generate openapi.json)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from facegate.api.records import RecordModel, from_record
from facegate.domain.mail import EMAIL_PATTERN, MAX_EMAIL_LENGTH
from facegate.domain.models import AuditRecord, Consent, Door, ErasureReceipt, Site, Terminal
from facegate.usecases.visitor import VisitorStatus
from facegate.vision.types import QualityReport

IdStr = str
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)", re.ASCII)


def _rfc3339_text(value: Any) -> Any:
    """Times are RFC 3339 strings only: no Unix numbers (``1700000000``, as a number or a string)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 time with an offset, e.g. 2026-11-28T09:00:00Z")
    return value


def _true_only(value: Any) -> Any:
    """Consent is the JSON literal ``true``: not ``1``, not ``"true"``."""
    if value is not True:
        raise ValueError("must be the JSON literal true")
    return value


Rfc3339 = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339_text)]
"""An RFC 3339 time with an offset (strict mode would refuse the string itself, so the check is explicit)."""


class Strict(BaseModel):
    """Request bodies: pydantic strict mode (no ``"0.1"`` for a number, no ``1`` for ``true``), unknown fields
    refused so typos fail loudly, every number bounded."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable snake_case error code")
    message: str = Field(description="human-readable, safe to show")


class ErrorBody(BaseModel):
    error: ErrorDetail


SecurityLevelName = Literal["standard", "high"]


class CreateSite(Strict):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Asia/Seoul")
    security_level: SecurityLevelName = Field(
        default="standard",
        description="standard: a stranger is granted by face alone on at most 1 in 1,000 attempts at a door's N, "
        "with someone else's claim code on at most 1 in 100; high: 1 in 10,000 and 1 in 1,000",
    )


class UpdateSite(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    security_level: SecurityLevelName | None = None
    accept_terminal_liveness: bool | None = Field(
        default=None,
        description="accept the signed liveness verdict (X-Facegate-Liveness) of terminals registered with "
        "attests_liveness in place of the head-turn challenge: a trust decision (their hardware is trusted, not "
        "checked), recorded in the audit",
    )


class FaceOnlyPoint(BaseModel):
    n_candidates: int = Field(description="visitors eligible at a door at once (N)")
    frames: int = Field(description="door frames fused per attempt (F)")
    allowed: bool = Field(description="false: face alone is off at such a door; the claim code is required")
    threshold: float | None = Field(description="cosine similarity a face-only grant needs")
    visitor_accept_rate: float = Field(description="expected share of genuine visitors granted by face alone")
    stranger_accept_rate: float = Field(description="estimated upper bound of strangers granted per attempt")


class ClaimPoint(BaseModel):
    frames: int
    threshold: float | None
    visitor_accept_rate: float
    stranger_accept_rate: float = Field(description="estimated upper bound, a stranger holding someone's code")


class LevelTargetsOut(BaseModel):
    face_only_stranger_rate: float
    claim_stranger_rate: float


class SecurityPolicyOut(BaseModel):
    level: SecurityLevelName
    model_id: str
    enroll_images: int = Field(description="K the table assumes (the visitor page's default selfies)")
    targets: LevelTargetsOut
    liveness_required: bool = Field(
        description="face-only entry also needs liveness evidence (a passed head-turn challenge, or the signed "
        "verdict of an attesting terminal the site accepts); without it the claim code is asked for"
    )
    face_only: list[FaceOnlyPoint]
    claim: list[ClaimPoint]


SITE_FIELDS = ("site_id", "name", "timezone", "security_level", "created_at", "retired_at")
RETIRED = {"retired_at": "set once an admin retired it"}


@from_record(
    Site,
    only=(*SITE_FIELDS, "accept_terminal_liveness"),
    required=("security_level",),
    descriptions=RETIRED,
    after={"policy": (SecurityPolicyOut, Field(description="effective thresholds and expected rates at this level"))},
)
class SiteOut(RecordModel):
    pass


class CreateDoor(Strict):
    name: str = Field(min_length=1, max_length=100)


class DoorOut(BaseModel):
    door_id: IdStr
    site_id: IdStr
    name: str
    unlock_key: str = Field(description="base64url 32-byte HS256 key for unlock tokens; shown once")


class CreateTerminal(Strict):
    name: str = Field(min_length=1, max_length=100)
    door_ids: list[IdStr] = Field(min_length=1, max_length=50)
    attests_liveness: bool = Field(
        default=False,
        description="the terminal has its own presentation-attack detection (IR/depth) and signs its verdict "
        "in X-Facegate-Liveness; it counts only where the site sets accept_terminal_liveness",
    )


class TerminalOut(BaseModel):
    terminal_id: IdStr
    key_id: str
    secret: str = Field(description="HMAC-SHA256 signing secret; shown once")
    site_id: IdStr
    door_ids: list[IdStr]
    attests_liveness: bool = False


class RevokedTerminalOut(BaseModel):
    terminal_id: IdStr
    revoked_at: datetime


class CreateInvite(Strict):
    door_ids: list[IdStr] = Field(min_length=1, max_length=50)
    valid_from: Rfc3339 = Field(description="RFC 3339, e.g. 2026-11-28T09:00:00Z; at most 90 days ahead")
    valid_until: Rfc3339 = Field(description="RFC 3339, after valid_from, at most 31 days later")
    display_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(
        default=None,
        max_length=MAX_EMAIL_LENGTH,
        pattern=EMAIL_PATTERN,
        description="the visitor's e-mail: the invite mail (ko/en) goes there; kept only as long as the invite",
    )
    notify_on_arrival: bool = Field(
        default=False, description="e-mail the inviting host when the visitor is first granted at a door"
    )


class InviteOut(BaseModel):
    invite_id: IdStr
    registration_url: str
    token: str = Field(description="the visitor's invite token (also inside registration_url); shown once")
    site_id: IdStr
    door_ids: list[IdStr]
    valid_from: datetime
    valid_until: datetime
    email: str | None = None
    notify_on_arrival: bool = False
    email_sent: bool = Field(default=False, description="true when the invite mail was accepted for delivery")


class InviteMailOut(BaseModel):
    invite_id: IdStr
    email: str
    sent_at: datetime


@from_record(ErasureReceipt, descriptions={"items": "kinds of data removed, e.g. template, claim_code, consent"})
class ErasureOut(RecordModel):
    pass


@from_record(
    AuditRecord,
    skip=("site_id", "expires_at"),
    rename={"kind": "event"},
    types={"event": str},
    descriptions={
        "event": "verify, refused, cooldown, enroll, enroll_refused, consent, erase, invite, invite_mailed, "
        "terminal_revoked or site_updated"
    },
    after={
        "actor_name": (
            str | None,
            Field(default=None, description="the actor's name where known (user or terminal)"),
        )
    },
)
class AuditItem(RecordModel):
    pass


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_token: str | None = None


class NoticeText(BaseModel):
    en: str
    ko: str


class NoticeSummaryOut(BaseModel):
    """The notice's items in one language (what PIPA asks for sensitive data)."""

    controller: str
    purpose: str
    items: list[str] = Field(description="the personal data processed; the biometric item is marked sensitive")
    not_stored: list[str]
    retention: str
    refusal: str = Field(description="the right to refuse consent and its consequence")
    rights: list[str] = Field(description="access, correction, erasure and withdrawal, and how")
    biometric_consent: str = Field(description="the separate consent to the biometric data")
    third_parties: str


class NoticeSummaries(BaseModel):
    en: NoticeSummaryOut
    ko: NoticeSummaryOut


class NoticeOut(BaseModel):
    consent_version: str
    controller: str
    purpose: str
    data_stored: list[str]
    not_stored: list[str]
    retention: str
    rights: list[str]
    site_name: str
    valid_from: datetime
    valid_until: datetime
    text: NoticeText
    summary: NoticeSummaries = Field(description="every item of the notice in English and Korean")
    pose_order: list[Literal["straight", "left", "right", "up", "down"]] = Field(
        default_factory=list,
        description="where the site checks liveness at enrollment (security level high): the head poses the first "
        "three selfies must show, in order (left/right are the visitor's own); empty elsewhere",
    )


class ConsentIn(Strict):
    consent_version: str = Field(min_length=1, max_length=64)
    accepted: Annotated[Literal[True], BeforeValidator(_true_only)] = Field(
        description="must be true: consent is explicit"
    )
    biometric: Annotated[Literal[True], BeforeValidator(_true_only)] | None = Field(
        default=None,
        description="true: the visitor also gave the separate consent to the biometric data (PIPA Art. 23) in a "
        "box of its own (the visitor page sends it); recorded in the audit trail",
    )


@from_record(Consent, rename={"version": "consent_version"})
class ConsentOut(RecordModel):
    pass


@from_record(QualityReport, required=True, before={"ok": (bool, ...)})
class QualityOut(RecordModel):
    pass


class EnrollmentOut(BaseModel):
    status: Literal["enrolled"]
    quality: list[QualityOut]
    claim_code: str = Field(description="8 characters; show at the door if the camera does not recognise you")
    enrolled_at: datetime
    n_images: int


@from_record(
    VisitorStatus,
    descriptions={
        "status": "reenroll_required: the doors now use another face model; take new selfies",
        "erased_at": "when the visitor erased their data (status erased)",
        "erased_items": "what that erasure removed, as in its receipt (status erased)",
    },
    defaults=dict.fromkeys(("consent_version", "enrolled_at", "claim_code", "display_name")),
)
class StatusOut(RecordModel):
    pass


class ChallengeIn(Strict):
    movements: list[Literal["left", "right", "up", "down"]] = Field(
        min_length=2,
        max_length=4,
        description="draw the challenge from these movements only (default all four); with two, only 2 "
        "sequences remain",
    )


class ChallengeOut(BaseModel):
    """A head-turn challenge: show the steps in order, send 1-2 frames of each with ``X-Facegate-Challenge``."""

    challenge_id: str = Field(description="send it in the signed X-Facegate-Challenge header of the verify request")
    steps: list[Literal["straight", "left", "right", "up", "down"]] = Field(
        description="the movements to ask for, in order; the first is straight; left/right are the visitor's own"
    )
    expires_at: datetime = Field(description="the verify request must arrive before this (about 10 s); used once")


class DecisionOut(BaseModel):
    """Grant or deny and what to do next; never a similarity, a threshold or why (those are audited only)."""

    decision: Literal["grant", "deny"]
    decision_id: str
    unlock_token: str | None = Field(default=None, description="HS256 JWT for the door controller, valid <= 10 s")
    next: Literal["show_code", "retry", "see_reception"] | None = Field(
        default=None,
        description="null on a grant; show_code: show the claim code (QR) with the face; retry: no usable face, "
        "try again; see_reception: the door cannot let this person in, a person must help",
    )
    hint: Literal["lower_mask"] | None = Field(
        default=None,
        description="null on a grant and on most denies; lower_mask: the frames show a covered lower face, ask "
        "the person to lower their mask (advice about the frames only, never about who is expected)",
    )


# --- the console (issue 14) ----------------------------------------------------------------------------

InviteStatusName = Literal["invited", "consented", "enrolled", "arrived", "expired", "erased"]


class MeOut(BaseModel):
    sub: str
    email: str | None = None
    name: str | None = None
    groups: list[str]
    site_ids: list[IdStr] | None = Field(description="the host's sites; null for admins (every site)")
    role: Literal["admin", "host"]


@from_record(Site, only=SITE_FIELDS, required=("security_level",), descriptions=RETIRED)
class SiteSummary(RecordModel):
    pass


class SitePage(BaseModel):
    items: list[SiteSummary]
    next_token: str | None = None


@from_record(Door, skip=("unlock_key_blob",), descriptions=RETIRED)
class DoorSummary(RecordModel):
    pass


class DoorPage(BaseModel):
    items: list[DoorSummary]
    next_token: str | None = None


@from_record(Terminal, skip=("secret_blob", "attests_liveness"))
class TerminalSummary(RecordModel):
    pass


class TerminalPage(BaseModel):
    items: list[TerminalSummary]
    next_token: str | None = None


class PairingOut(BaseModel):
    pairing_code: str = Field(description="XXXX-XXXX-XXXX; single use; shown once")
    pairing_url: str = Field(description="<origin>/kiosk?pair=<code> (show as a QR code)")
    expires_at: datetime = Field(description="at most 10 minutes after issue")


class PairIn(Strict):
    pairing_code: str = Field(min_length=1, max_length=64, description="case, spaces and hyphens are ignored")


class PairOut(BaseModel):
    terminal_id: IdStr
    key_id: str
    secret: str = Field(description="HMAC-SHA256 signing secret; shown once (any earlier key stops working)")
    door_ids: list[IdStr]
    api_url: str = Field(description="base URL the kiosk sends its requests to")


class InviteSummary(BaseModel):
    invite_id: IdStr
    site_id: IdStr
    display_name: str | None = None
    email: str | None = None
    door_ids: list[IdStr]
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    created_by: str = Field(description="the inviting user's sub")
    created_by_name: str | None = None
    status: InviteStatusName = Field(
        description="erased (cancelled, or the visitor erased their data), arrived (granted at a door at least "
        "once), expired, enrolled, consented or invited"
    )
    arrived_at: datetime | None = None


class InvitePage(BaseModel):
    items: list[InviteSummary]
    next_token: str | None = None


class InviteDetail(InviteSummary):
    registration_url: str | None = Field(
        default=None, description="the visitor's link (null once the invite is erased or for older invites)"
    )


class CreateHost(Strict):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=100)
    site_ids: list[IdStr] = Field(min_length=1, max_length=50)


class _HostFields(BaseModel):
    """What every answer about a host user carries."""

    username: str
    email: str
    name: str
    site_ids: list[IdStr]
    enabled: bool


class HostOut(_HostFields):
    created_at: datetime


class NewHostOut(_HostFields):
    temporary_password: str = Field(description="shown once; the host sets a new password at first sign-in")


class HostPage(BaseModel):
    items: list[HostOut]
    next_token: str | None = None

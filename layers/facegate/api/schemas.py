"""Request and response bodies of the HTTP API (pydantic models; they generate openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

IdStr = str


class Strict(BaseModel):
    """Request bodies reject unknown fields, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable snake_case error code")
    message: str = Field(description="human-readable, safe to show")


class ErrorBody(BaseModel):
    error: ErrorDetail


class CreateSite(Strict):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Asia/Seoul")
    match_threshold: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="identify threshold (cosine similarity) for this site"
    )


class SiteOut(BaseModel):
    site_id: IdStr
    name: str
    timezone: str
    match_threshold: float
    claim_threshold: float
    created_at: datetime


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


class TerminalOut(BaseModel):
    terminal_id: IdStr
    key_id: str
    secret: str = Field(description="HMAC-SHA256 signing secret; shown once")
    site_id: IdStr
    door_ids: list[IdStr]


class RevokedTerminalOut(BaseModel):
    terminal_id: IdStr
    revoked_at: datetime


class CreateInvite(Strict):
    door_ids: list[IdStr] = Field(min_length=1, max_length=50)
    valid_from: AwareDatetime = Field(description="RFC 3339, e.g. 2026-11-28T09:00:00Z")
    valid_until: AwareDatetime = Field(description="RFC 3339, after valid_from, at most 31 days later")
    display_name: str | None = Field(default=None, max_length=100)


class InviteOut(BaseModel):
    invite_id: IdStr
    registration_url: str
    token: str = Field(description="the visitor's invite token (also inside registration_url); shown once")
    site_id: IdStr
    door_ids: list[IdStr]
    valid_from: datetime
    valid_until: datetime


class ErasureOut(BaseModel):
    erased_at: datetime
    items: list[str] = Field(description="kinds of data removed, e.g. template, claim_code, consent")
    invite_id: IdStr | None = None


class AuditItem(BaseModel):
    event_id: str
    event: str = Field(description="verify, enroll, enroll_refused, consent, erase, invite or terminal_revoked")
    at: datetime
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
    details: dict[str, str] = Field(default_factory=dict)


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_token: str | None = None


class NoticeText(BaseModel):
    en: str
    ko: str


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


class ConsentIn(Strict):
    consent_version: str = Field(min_length=1, max_length=64)
    accepted: Literal[True] = Field(description="must be true: consent is explicit")


class ConsentOut(BaseModel):
    consent_version: str
    accepted_at: datetime


class QualityOut(BaseModel):
    ok: bool
    face_size_px: float
    box_height_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    issues: list[str]
    flags: list[str]


class EnrollmentOut(BaseModel):
    status: Literal["enrolled"]
    quality: list[QualityOut]
    claim_code: str = Field(description="8 characters; show at the door if the camera does not recognise you")
    enrolled_at: datetime
    n_images: int


class StatusOut(BaseModel):
    status: Literal["invited", "consented", "enrolled", "erased", "expired"]
    valid_from: datetime
    valid_until: datetime
    consent_version: str | None = None
    enrolled_at: datetime | None = None
    claim_code: str | None = None
    display_name: str | None = None


class DecisionOut(BaseModel):
    decision: Literal["grant", "deny"]
    reason: Literal["match", "no_match", "ambiguous", "no_candidates", "no_face", "claim_mismatch", "claim_unknown"]
    similarity: float | None = Field(description="best cosine similarity in [-1, 1]")
    threshold: float
    mode: Literal["identify", "claim"]
    decision_id: str
    unlock_token: str | None = Field(default=None, description="HS256 JWT for the door controller, valid <= 10 s")

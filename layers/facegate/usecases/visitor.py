"""Visitor use cases, authenticated by the invite token: notice, consent, enroll, status, erase."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from facegate.domain.models import (
    AuditKind,
    AuditQuery,
    Consent,
    ErasureReceipt,
    Invite,
    InviteState,
    SecurityLevel,
    Site,
    StoredTemplate,
    rfc3339,
)
from facegate.domain.notice import CONSENT_VERSION, Notice, build_notice
from facegate.errors import Conflict, FaceRejected, Gone, InvalidRequest, RateLimited, Unauthorized
from facegate.ports import FaceEnginePort
from facegate.security import envelope, tokens
from facegate.usecases import liveness
from facegate.usecases.audit import record_event
from facegate.usecases.context import Services
from facegate.usecases.shared import claim_key, require_site, site_data_key

VISITOR = "visitor"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """The result of a successful enrollment (``quality`` holds one report per image)."""

    status: str
    quality: tuple[dict[str, object], ...]
    claim_code: str
    enrolled_at: datetime
    n_images: int
    model_id: str


@dataclass(frozen=True, slots=True)
class VisitorStatus:
    status: InviteState
    valid_from: datetime
    valid_until: datetime
    consent_version: str | None
    enrolled_at: datetime | None
    claim_code: str | None
    display_name: str | None
    erased_at: datetime | None = None
    erased_items: tuple[str, ...] | None = None


ERASURE_LOOKUP_SECONDS = 60
"""How long after ``erased_at`` the visitor's erasure audit record is looked for (it is written just after)."""


def address_block(source: str) -> str:
    """The address block that bad-token guesses are counted per: an IPv4 address, or an IPv6 /64.

    One IPv6 subscriber usually holds a whole /64, so counting per IPv6 address would be evaded by
    rotating addresses; IPv4 addresses behind a carrier NAT are shared, which is harmless because
    the limit only ever applies to invalid tokens (see :func:`find_invite`).
    """
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return source[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def find_invite(services: Services, token: str, source: str) -> Invite:
    """The invite a token belongs to.

    The limit throttles the guesses, not the visitors: a valid token is looked up first (one hash
    lookup) and always goes through. Only an invalid token is checked against, and counted towards,
    the per-minute limit of its address block (:func:`address_block`); past the limit every further
    invalid guess from that block gets 429 for 60 s, which makes guessing pointless while visitors
    holding a valid link behind the same guest Wi-Fi or carrier NAT are never locked out. Every
    invalid token is logged and counted as a metric (never the token itself).

    Raises:
        Unauthorized: ``invalid_token``.
        Gone: ``invite_revoked`` when a host or admin erased the invite.
        RateLimited: too many invalid tokens from ``source``'s address block.
    """
    now = services.clock()
    invite = (
        services.repo.get_invite_by_token(tokens.hash_token(token)) if tokens.looks_like_invite_token(token) else None
    )
    if invite is None:
        block_key = f"badtoken#{address_block(source)}"
        until = services.ephemeral.blocked_until(block_key, now)
        if until is not None:
            raise RateLimited(
                "too many invalid links; wait a moment",
                retry_after=int((until - now).total_seconds()) + 1,
            )
        if services.ephemeral.hit(block_key, 60, now) >= services.settings.invalid_token_limit_per_minute:
            services.ephemeral.block(block_key, now + timedelta(seconds=60))
        raise Unauthorized("this registration link is not valid", code="invalid_token")
    if invite.revoked_at is not None:
        raise Gone("this invitation was cancelled", code="invite_revoked")
    return invite


def enrollment_opens_at(services: Services, invite: Invite) -> datetime:
    """When consent and selfies are first accepted: a documented lead before the visit window opens."""
    return invite.valid_from - timedelta(days=services.settings.enrollment_opens_days_before)


def _require_enrollment_open(services: Services, invite: Invite, now: datetime) -> None:
    opens = enrollment_opens_at(services, invite)
    if now < opens:
        raise Conflict(
            f"registration opens {services.settings.enrollment_opens_days_before} days before the visit, "
            f"on {rfc3339(opens)}",
            code="enrollment_not_open",
        )


def _require_open(invite: Invite, now: datetime) -> None:
    if now >= invite.valid_until:
        raise Gone("this invitation has ended", code="invite_expired")
    if invite.erased_at is not None and invite.enrolled_at is None and invite.consent is None:
        # the visitor's own erasure ends the link (the page says so): nothing new is accepted on it
        raise Gone("you deleted your data; this link can no longer be used", code="invite_erased")


def notice(services: Services, token: str, source: str) -> Notice:
    """The privacy notice for this invite."""
    invite = find_invite(services, token, source)
    site = require_site(services, invite.site_id)
    settings = services.settings
    built = build_notice(
        site.name,
        invite.valid_from,
        invite.valid_until,
        grace_hours=settings.retention_grace_seconds / 3600,
        audit_days=settings.audit_retention_days,
    )
    if site.security_level is not SecurityLevel.HIGH:
        return built
    return replace(built, pose_order=tuple(pose.value for pose in liveness.ENROLLMENT_POSES))


def consent(
    services: Services, token: str, source: str, consent_version: str, accepted: bool, *, biometric: bool = False
) -> Consent:
    """Record explicit consent to the current notice version; ``biometric``: the visitor also ticked the separate
    consent to the biometric data (kept in the audit record: ``biometric_consent`` ``separate``)."""
    invite = find_invite(services, token, source)
    now = services.clock()
    _require_open(invite, now)
    _require_enrollment_open(services, invite, now)
    if not accepted:
        raise InvalidRequest("consent must be given explicitly (accepted: true)", code="consent_not_accepted")
    if consent_version != CONSENT_VERSION:
        raise Conflict(
            f"the notice has changed; read version {CONSENT_VERSION} and consent again", code="consent_version_mismatch"
        )
    record = Consent(version=consent_version, accepted_at=now)
    services.repo.record_consent(invite.invite_id, record)
    details = {"biometric_consent": "separate" if biometric else "not_stated"}
    record_event(services, invite.site_id, AuditKind.CONSENT, VISITOR, visitor_id=invite.invite_id, details=details)
    return record


def _audit_refused(
    services: Services, invite: Invite, engine: FaceEnginePort, reason: str, details: dict[str, str] | None = None
) -> None:
    """Audit a refused enrollment of ``invite`` with its precise ``reason`` (never the images)."""
    record_event(
        services,
        invite.site_id,
        AuditKind.ENROLL_REFUSED,
        VISITOR,
        visitor_id=invite.invite_id,
        reason=reason,
        model_id=engine.model_id,
        details=details,
    )


def _require_live_selfies(services: Services, invite: Invite, images: Sequence[bytes], engine: FaceEnginePort) -> None:
    """At a ``high`` site the first three selfies must show the poses of the notice's ``pose_order`` and pass
    the door's liveness checks (a flat photo cannot be enrolled).

    Raises:
        FaceRejected: ``liveness_failed`` (422), audited with the sub-reason.
    """
    reason = liveness.enrollment_refusal(engine, images)
    if reason is None:
        return
    _audit_refused(services, invite, engine, "liveness_failed", {"liveness_reason": reason})
    raise FaceRejected(
        "take three photos: looking straight, then turned to your left, then to your right", code="liveness_failed"
    )


def enrollment_scope(invite: Invite) -> str:
    """What an ``Idempotency-Key`` of a selfie upload is unique within: this invite and this consent.

    After an erasure (consent withdrawn) or a new consent, an old key starts a new enrollment attempt
    instead of replaying a result that no longer holds.
    """
    consented = rfc3339(invite.consent.accepted_at) if invite.consent else "no-consent"
    erased = rfc3339(invite.erased_at) if invite.erased_at else "never-erased"
    return f"enroll#{invite.token_hash}#{erased}#{consented}"


def enroll(services: Services, invite: Invite, images: Sequence[bytes], site: Site | None = None) -> Enrollment:
    """Turn 1-5 selfies into one fused, encrypted template for ``invite`` (from :func:`find_invite`); the
    images never leave this call. ``site`` is the invite's site where the caller already read it.

    A new enrollment replaces the previous template and claim code.

    Raises:
        Conflict: ``consent_required`` when there is no consent for the current notice.
        FaceRejected: a quality reason (``no_face``, ``multiple_faces``, ...), also audited.
    """
    now = services.clock()
    _require_open(invite, now)
    _require_enrollment_open(services, invite, now)
    if invite.consent is None or invite.consent.version != CONSENT_VERSION:
        raise Conflict("consent is required before taking selfies", code="consent_required")
    engine = services.engine()
    try:
        template = engine.enroll_template(list(images))
    except FaceRejected as exc:
        _audit_refused(services, invite, engine, exc.code)
        raise
    site = site or require_site(services, invite.site_id)
    if site.security_level is SecurityLevel.HIGH:
        _require_live_selfies(services, invite, images, engine)
    data_key = site_data_key(services, site)
    code = tokens.new_claim_code()
    stored = StoredTemplate(
        site_id=site.site_id,
        visitor_id=invite.invite_id,
        ciphertext=envelope.seal(
            data_key, template.to_bytes(), envelope.template_aad(site.site_id, invite.invite_id, template.model_id)
        ),
        model_id=template.model_id,
        n_images=template.n_images,
        door_ids=invite.door_ids,
        valid_from=invite.valid_from,
        valid_until=invite.valid_until,
        claim_hash=tokens.claim_hash(claim_key(data_key), code),
        enrolled_at=now,
    )
    claim_ct = envelope.seal(data_key, code.encode(), envelope.claim_code_aad(site.site_id, invite.invite_id))
    services.repo.enroll(invite.invite_id, stored, claim_ct, invite.consent.version, now)
    record_event(
        services,
        site.site_id,
        AuditKind.ENROLL,
        VISITOR,
        visitor_id=invite.invite_id,
        model_id=template.model_id,
        details={"n_images": str(template.n_images)},
    )
    return Enrollment(
        status="enrolled",
        quality=tuple(report.as_dict() for report in template.quality),
        claim_code=code,
        enrolled_at=now,
        n_images=template.n_images,
        model_id=template.model_id,
    )


def status(services: Services, token: str, source: str) -> VisitorStatus:
    """Where the visitor is in the flow; includes the claim code once enrolled (and not expired)."""
    invite = find_invite(services, token, source)
    now = services.clock()
    state = invite.state(now)
    claim_code = None
    if state is InviteState.ENROLLED:
        stored = services.repo.get_template_model_id(invite.site_id, invite.invite_id)
        if stored is not None and stored != services.engine().model_id:
            state = InviteState.REENROLL_REQUIRED
    if state is InviteState.ENROLLED:
        claim_code = stored_claim_code(services, invite)
    return VisitorStatus(
        status=state,
        valid_from=invite.valid_from,
        valid_until=invite.valid_until,
        consent_version=invite.consent.version if invite.consent else None,
        enrolled_at=invite.enrolled_at if state is InviteState.ENROLLED else None,
        claim_code=claim_code,
        display_name=invite.display_name,
        erased_at=invite.erased_at if state is InviteState.ERASED else None,
        erased_items=_erasure_items(services, invite) if state is InviteState.ERASED else None,
    )


def stored_claim_code(services: Services, invite: Invite, site: Site | None = None) -> str | None:
    """The invite's claim code, opened with its site's data key (None before an enrollment or after erasure);
    ``site`` is the invite's site where the caller already read it."""
    if invite.claim_code_ct is None:
        return None
    site = site or require_site(services, invite.site_id)
    aad = envelope.claim_code_aad(site.site_id, invite.invite_id)
    return envelope.open_sealed(site_data_key(services, site), invite.claim_code_ct, aad).decode()


def _erasure_items(services: Services, invite: Invite) -> tuple[str, ...]:
    """What the visitor's erasure removed, read back from its audit record (empty if it is gone)."""
    if invite.erased_at is None:
        return ()
    start = invite.erased_at
    end = start + timedelta(seconds=ERASURE_LOOKUP_SECONDS)
    cursor: str | None = None
    for _ in range(10):
        records, cursor = services.audit.query(AuditQuery(invite.site_id, start, end), 100, cursor)
        for record in records:
            if record.kind is AuditKind.ERASE and record.visitor_id == invite.invite_id:
                listed = record.details.get("items", "")
                return tuple(item for item in listed.split(",") if item)
        if cursor is None:
            break
    return ()


def erase(services: Services, token: str, source: str) -> ErasureReceipt:
    """Erase the visitor's template, claim code and consent; this also ends the link.

    The invite itself stays (minus biometrics) so that the status route can still show the receipt, but
    consent and selfies on it are refused with ``invite_erased`` (410) from now on.
    """
    invite = find_invite(services, token, source)
    now = services.clock()
    items = services.repo.erase_visitor(invite.invite_id, now, revoke=False)
    record_event(
        services,
        invite.site_id,
        AuditKind.ERASE,
        VISITOR,
        visitor_id=invite.invite_id,
        details={"by": "visitor", "items": ",".join(items)},
    )
    return ErasureReceipt(erased_at=now, items=items, invite_id=invite.invite_id)

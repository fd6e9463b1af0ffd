"""Delivery: the invite mail (SES), door-decision events (EventBridge) and the host's arrival notice.

Nothing here may fail a door decision or an invite: a mail or event that cannot be delivered is logged
(kind and error code only, never an address, a link or a body) and counted (``DeliveryFailed`` metric);
only the explicit resend route answers 503 ``delivery_failed``.

The registration link of an invite is kept sealed with the site's data key (``link_ct``), so the mail can
be sent again; it is removed with the invite's other personal data on erasure.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from facegate.domain.mail import Mail, arrival_mail, invite_mail
from facegate.domain.models import AuditKind, Decision, Invite, Site, parse_rfc3339, rfc3339
from facegate.errors import Conflict, DeliveryFailed, Gone, NotFound, RateLimited
from facegate.security import envelope
from facegate.usecases.audit import record_event
from facegate.usecases.context import Principal, Services
from facegate.usecases.keys import site_context

LOG = logging.getLogger("facegate.delivery")
DOOR_DECISION = "door.decision"
"""The EventBridge ``detail-type`` of a door decision (``source`` is ``facegate``)."""
NAMESPACE = "facegate"


def delivery_failed(kind: str, error: Exception) -> None:
    """Log and count one undelivered mail or event (its kind and the error's type only)."""
    LOG.warning("delivery failed", extra={"delivery_kind": kind, "error_type": type(error).__name__})
    try:
        with single_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="kind", value=kind)
    except Exception:  # a metric must never fail the caller
        LOG.debug("metric not emitted")


def link_aad(site_id: str, invite_id: str) -> bytes:
    """Associated data of a sealed registration link (binds it to its site and invite)."""
    return f"facegate-invite-link|{site_id}|{invite_id}".encode()


def seal_link(services: Services, site: Site, invite_id: str, url: str) -> bytes:
    """The registration link sealed with the site's data key (AES-GCM)."""
    key = services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))
    return envelope.seal(key, url.encode(), link_aad(site.site_id, invite_id))


def open_link(services: Services, site: Site, invite: Invite) -> str | None:
    """The invite's registration link, None when none is kept (an invite made before links were kept, or
    erased)."""
    if invite.link_ct is None:
        return None
    key = services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))
    return envelope.open_sealed(key, invite.link_ct, link_aad(site.site_id, invite.invite_id)).decode()


def _local(site: Site, moment: datetime) -> datetime:
    try:
        return moment.astimezone(zoneinfo.ZoneInfo(site.timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return moment


def compose_invite_mail(services: Services, site: Site, invite: Invite, url: str, host_label: str) -> Mail:
    """The invite mail of ``invite`` to its ``email`` (which must be set)."""
    assert invite.email is not None
    return invite_mail(
        to=invite.email,
        site_name=site.name,
        host_label=host_label,
        valid_from=_local(site, invite.valid_from),
        valid_until=_local(site, invite.valid_until),
        timezone_label=site.timezone,
        registration_url=url,
        grace_hours=services.settings.retention_grace_seconds / 3600,
    )


def host_label(actor: Principal | None, invite: Invite) -> str:
    """How the mail names the inviting host: "Name (e-mail)" from the creator's token; on a resend by someone
    else, the creator's e-mail; "Your host / 담당자" when nothing is known."""
    if actor is not None and actor.subject == invite.created_by:
        if actor.name and actor.email:
            return f"{actor.name} ({actor.email})"
        if actor.name or actor.email:
            return str(actor.name or actor.email)
    return invite.host_email or "Your host / 담당자"


def send_invite_mail(services: Services, site: Site, invite: Invite, url: str, host: str) -> bool:
    """Mail the invite link when the invite has an e-mail and a sender is configured; True when SES accepted
    it. A failure is logged and counted, never raised (the invite exists either way; the host can resend)."""
    if invite.email is None or services.mailer is None:
        return False
    mail = compose_invite_mail(services, site, invite, url, host)
    try:
        services.mailer.send(mail.to, mail.subject, mail.text, mail.html, mail.kind.value)
    except DeliveryFailed as exc:
        delivery_failed(mail.kind.value, exc)
        return False
    return True


@dataclass(frozen=True, slots=True)
class ResentMail:
    invite_id: str
    email: str
    sent_at: datetime


def resend_invite_mail(services: Services, actor: Principal, invite_id: str) -> ResentMail:
    """Send the invite mail again (hosts of the invite's site, admins).

    Raises:
        NotFound: unknown invite, or another site's (one answer: ids cannot be probed).
        Gone: ``invite_revoked`` (cancelled), ``invite_erased`` (the visitor erased their data),
            ``invite_expired`` (the window ended).
        Conflict: ``no_email`` (the invite has no e-mail), ``mail_not_configured`` (no sender).
        RateLimited: more than ``invite_mail_per_hour`` resends of this invite's mail in the last hour.
        DeliveryFailed: SES refused or failed (503).
    """
    actor.require_host_or_admin()
    invite = services.repo.get_invite(invite_id)
    if invite is None or not actor.may_host(invite.site_id):
        raise NotFound("invite not found")
    now = services.clock()
    if invite.revoked_at is not None:
        raise Gone("this invite was cancelled", code="invite_revoked")
    if invite.erased_at is not None:
        raise Gone("the visitor erased their data; this link no longer works", code="invite_erased")
    if now >= invite.valid_until:
        raise Gone("this invite has expired", code="invite_expired")
    if invite.email is None:
        raise Conflict("this invite has no e-mail address", code="no_email")
    if services.mailer is None:
        raise Conflict("no e-mail sender is configured (FACEGATE_MAIL_FROM)", code="mail_not_configured")
    limit = services.settings.invite_mail_per_hour
    if services.ephemeral.hit(f"invite-mail#{invite.invite_id}", 3600, now) > limit:
        raise RateLimited(f"at most {limit} resends per hour for one invite", code="rate_limited", retry_after=3600)
    site = services.repo.get_site(invite.site_id)
    if site is None:
        raise NotFound("invite not found")
    url = open_link(services, site, invite)
    if url is None:
        raise Conflict("this invite's link is not kept; create a new invite", code="link_unavailable")
    mail = compose_invite_mail(services, site, invite, url, host_label(actor, invite))
    try:
        services.mailer.send(mail.to, mail.subject, mail.text, mail.html, mail.kind.value)
    except DeliveryFailed:
        _audit_resend(services, actor, invite, "failed")
        raise
    _audit_resend(services, actor, invite, "sent")
    return ResentMail(invite_id=invite.invite_id, email=invite.email, sent_at=now)


def _audit_resend(services: Services, actor: Principal, invite: Invite, result: str) -> None:
    record_event(
        services,
        invite.site_id,
        AuditKind.INVITE_MAILED,
        actor.subject,
        visitor_id=invite.invite_id,
        details={"result": result},
    )


@dataclass(frozen=True, slots=True)
class DoorDecided:
    """One door decision as the door phase hands it to delivery (``at``: when it was decided, UTC)."""

    site_id: str
    door_id: str
    terminal_id: str
    decision: Decision
    decision_id: str
    at: datetime


def decision_detail(event: DoorDecided, first_arrival: bool) -> dict[str, object]:
    """The public detail of a door-decision event: who decided what where and when, the invite on a grant,
    the kiosk's ``next`` step on a deny. Never a score, a threshold, the precise reason, an image, a template
    or a token."""
    decision = event.decision
    detail: dict[str, object] = {
        "site_id": event.site_id,
        "door_id": event.door_id,
        "terminal_id": event.terminal_id,
        "decision": "grant" if decision.granted else "deny",
        "decision_id": event.decision_id,
        "time": rfc3339(event.at),
        "mode": decision.mode.value,
        "first_arrival": bool(first_arrival and decision.granted),
    }
    if decision.granted:
        detail["invite_id"] = decision.visitor_id
    else:
        step = decision.next_step
        detail["next"] = None if step is None else step.value
    return detail


def publish_decision(services: Services, detail: Mapping[str, object], at: datetime) -> bool:
    """Publish a door decision when a bus is configured; False (logged and counted) when it failed."""
    if services.events is None:
        return False
    try:
        services.events.publish(DOOR_DECISION, detail, at)
    except DeliveryFailed as exc:
        delivery_failed("door_event", exc)
        return False
    return True


def announce_decision(services: Services, event: DoorDecided, arrived: Future[bool] | None) -> bool:
    """The record phase's delivery step: publish the door decision once ``arrived`` (the grant's conditional
    write of the invite's ``arrived_at``; True when this grant set it) is known; ``first_arrival`` is False
    when there was none or it failed. Never raises: a failed publish is logged and counted, the door decision
    stands. Returns whether the event was published."""
    first_arrival = False
    if arrived is not None:
        try:
            first_arrival = arrived.result()
        except Exception as exc:  # the door phase reports its own failure; the event just says not first
            delivery_failed("arrival_mark", exc)
    try:
        return publish_decision(services, decision_detail(event, first_arrival), event.at)
    except Exception as exc:  # an unexpected client error must not fail the door decision either
        delivery_failed("door_event", exc)
        return False


def notify_arrival(services: Services, detail: Mapping[str, object]) -> bool:
    """The subscriber of first-arrival events: e-mail the host when their invite opted in.

    Returns True when a notice was sent. Events that are not a first grant, invites without the opt-in or
    a host e-mail, and a missing sender are skipped (False).

    Raises:
        DeliveryFailed: SES failed (the invocation fails; Lambda retries the asynchronous event).
    """
    if detail.get("decision") != "grant" or detail.get("first_arrival") is not True:
        return False
    invite_id = detail.get("invite_id")
    if not isinstance(invite_id, str) or services.mailer is None:
        return False
    invite = services.repo.get_invite(invite_id)
    if invite is None or not invite.notify_on_arrival or not invite.host_email:
        return False
    site = services.repo.get_site(invite.site_id)
    if site is None or site.site_id != detail.get("site_id"):
        return False
    door_id = str(detail.get("door_id") or "")
    door = services.repo.get_door(site.site_id, door_id)
    at = _parse_time(detail.get("time")) or services.clock()
    visitor = invite.display_name or "Your visitor / 방문객"
    mail = arrival_mail(
        invite.host_email, site.name, visitor, door.name if door else door_id, _local(site, at), site.timezone
    )
    services.mailer.send(mail.to, mail.subject, mail.text, mail.html, mail.kind.value)
    return True


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None

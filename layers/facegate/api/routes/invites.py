"""Host routes: invite a visitor, erase an invite (Bearer JWT of `hosts` of the site, or `admins`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.api.deps import ActorDep, Id, Limit, NextToken, ServicesDep
from facegate.api.openapi import admin_route
from facegate.api.records import body_from
from facegate.api.schemas import (
    CreateInvite,
    ErasureOut,
    InviteDetail,
    InviteMailOut,
    InviteOut,
    InvitePage,
    InviteStatusName,
    InviteSummary,
)
from facegate.domain.invite_status import InviteStatus
from facegate.usecases import admin, console, delivery

router = Router()


@admin_route(router.post, "/sites/<site_id>/invites", 201, InviteOut, 400, 401, 403, 404, 413, 415, tags=["host"])
def create_invite(site_id: Id, body: CreateInvite, services: ServicesDep, actor: ActorDep) -> InviteOut:
    """Invite a visitor (hosts of the site, admins)."""
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    host = event.request_context.domain_name
    new = admin.create_invite(
        services,
        actor,
        site_id,
        body.door_ids,
        body.valid_from,
        body.valid_until,
        body.display_name,
        f"https://{host}",
        email=body.email,
        notify_on_arrival=body.notify_on_arrival,
    )
    return body_from(InviteOut, new.invite, new)


@admin_route(router.delete, "/invites/<invite_id>", 200, ErasureOut, 401, 403, 404, tags=["host"])
def erase_invite(invite_id: Id, services: ServicesDep, actor: ActorDep) -> ErasureOut:
    """Erase everything biometric of an invite and cancel it (hosts of the site, admins)."""
    receipt = admin.erase_invite(services, actor, invite_id)
    return ErasureOut.of(receipt)


@admin_route(router.post, "/invites/<invite_id>/email", 200, InviteMailOut, 401, 403, 404, 409, 410, 503, tags=["host"])
def resend_invite_email(invite_id: Id, services: ServicesDep, actor: ActorDep) -> InviteMailOut:
    """Send the invite mail again to the invite's e-mail (hosts of the site, admins)."""
    sent = delivery.resend_invite_mail(services, actor, invite_id)
    return InviteMailOut(invite_id=sent.invite_id, email=sent.email, sent_at=sent.sent_at)


def _summary(view: console.InviteView) -> dict[str, object]:
    invite = view.invite
    return {
        "invite_id": invite.invite_id,
        "site_id": invite.site_id,
        "display_name": invite.display_name,
        "email": invite.email,
        "door_ids": list(invite.door_ids),
        "valid_from": invite.valid_from,
        "valid_until": invite.valid_until,
        "created_at": invite.created_at,
        "created_by": invite.created_by,
        "created_by_name": view.created_by_name,
        "status": view.status.value,
        "arrived_at": invite.arrived_at,
    }


@admin_route(router.get, "/sites/<site_id>/invites", 200, InvitePage, 400, 401, 403, 404, tags=["host"])
def list_invites(
    site_id: Id,
    services: ServicesDep,
    actor: ActorDep,
    status: Annotated[InviteStatusName | None, Query(description="only invites of this status")] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> InvitePage:
    """A site's invites, newest first, with their status (hosts of the site, admins)."""
    wanted = None if status is None else InviteStatus(status)
    page = console.list_invites(services, actor, site_id, wanted, limit, next_token)
    return InvitePage(
        items=[InviteSummary.model_validate(_summary(view)) for view in page.items], next_token=page.next_token
    )


@admin_route(router.get, "/invites/<invite_id>", 200, InviteDetail, 401, 403, 404, tags=["host"])
def get_invite(invite_id: Id, services: ServicesDep, actor: ActorDep) -> InviteDetail:
    """One invite with its status and registration link, to show or copy the link and its QR code again
    (hosts of its site, admins; another site's invite is 404 like an unknown one)."""
    view = console.get_invite(services, actor, invite_id)
    return InviteDetail.model_validate({**_summary(view), "registration_url": view.registration_url})

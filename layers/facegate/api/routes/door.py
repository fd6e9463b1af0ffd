"""Door-terminal routes: a signed head-turn challenge, and a signed face crop (a burst of up to 3 frames, or the
frames of a challenge) → grant or deny. Both authenticate the terminal through :func:`door.authenticate`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import BaseModel, ValidationError

from facegate.api.body import MAX_FRAME_PARTS, image_parts, media_type, raw_body
from facegate.api.deps import Id, ServicesDep
from facegate.api.observability import count, logger, milliseconds
from facegate.api.openapi import TERMINAL_SECURITY, responses
from facegate.api.schemas import ChallengeIn, ChallengeOut, DecisionOut
from facegate.domain.models import Movement
from facegate.errors import Forbidden, InvalidRequest, RateLimited, Unauthorized, UnsupportedMediaType
from facegate.usecases import door, liveness
from facegate.usecases.audit import record_terminal_refusal
from facegate.usecases.context import Services

router = Router()
DoorId = Id
MAX_CHALLENGE_BODY_BYTES = 1024
"""A challenge request carries no body (an empty one is signed); anything larger is refused unread."""


def _signed_request(event: APIGatewayProxyEventV2, body: bytes) -> door.SignedRequest:
    headers = event.headers
    return door.SignedRequest(
        method=event.request_context.http.method,
        path=event.raw_path,
        key_id=headers.get("x-facegate-key-id"),
        timestamp=headers.get("x-facegate-timestamp"),
        nonce=headers.get("x-facegate-nonce"),
        signature=headers.get("x-facegate-signature"),
        body=body,
        claim=headers.get("x-facegate-claim"),
        challenge=headers.get("x-facegate-challenge"),
        liveness=headers.get("x-facegate-liveness"),
    )


def _movements(content_type: str | None, body: bytes) -> tuple[Movement, ...]:
    if not body:
        return liveness.MOVEMENTS
    if media_type(content_type) != "application/json":
        raise UnsupportedMediaType("send no body, or application/json", code="unsupported_media_type")
    try:
        options = ChallengeIn.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest("movements: at least two different of left, right, up, down") from exc
    return tuple(Movement(name) for name in options.movements)


def _door_route[H: Callable[..., Any]](action: str, model: type[BaseModel]) -> Callable[[H], H]:
    """The decorator of ``POST /doors/<door_id>/<action>``: a terminal route, signed with the terminal's HMAC,
    answered with ``model`` (or the errors of a terminal request)."""
    errors = responses(200, model, 400, 401, 403, 413, 415, 429, 503)
    return router.post(f"/doors/<door_id>/{action}", security=TERMINAL_SECURITY, responses=errors, tags=["door"])


@contextmanager
def _refusals_audited(services: Services, request: door.SignedRequest, door_id: str) -> Iterator[None]:
    """Audit a refusal of the terminal (401, 403, 429) with :func:`record_terminal_refusal`, then let it go on."""
    try:
        yield
    except (Unauthorized, Forbidden, RateLimited) as refused:
        record_terminal_refusal(services, request.key_id, door_id, refused)
        raise


@_door_route("challenge", ChallengeOut)
def challenge_at_door(door_id: DoorId, services: ServicesDep) -> ChallengeOut:
    """A head-turn challenge for the person in front of the door; signed like verify. The body is empty, or
    JSON ``{"movements": [...]}`` naming at least two of left, right, up, down to draw from."""
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    body = raw_body(event, MAX_CHALLENGE_BODY_BYTES)
    request = _signed_request(event, body)
    with _refusals_audited(services, request, door_id):
        authenticated = door.authenticate(services, request, door_id)
        movements = _movements(event.headers.get("content-type"), body)
        challenge = door.issue_challenge(services, authenticated, movements)
    count("ChallengeIssued", movements=str(len(movements)))
    return ChallengeOut(
        challenge_id=challenge.challenge_id,
        steps=[step.value for step in challenge.steps],
        expires_at=challenge.expires_at,
    )


@_door_route("verify", DecisionOut)
def verify_at_door(door_id: DoorId, services: ServicesDep) -> DecisionOut:
    """Decide whether to open the door; authenticated by the terminal's HMAC request signature."""
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    body = raw_body(event, services.settings.max_body_bytes)
    request = _signed_request(event, body)
    max_parts = MAX_FRAME_PARTS if request.challenge is None else liveness.MAX_CHALLENGE_FRAMES
    with _refusals_audited(services, request, door_id):
        authenticated = door.authenticate(services, request, door_id)
        frames = image_parts(event.headers.get("content-type"), body, "frame", max_parts=max_parts)
        outcome = door.verify(services, authenticated, frames)
    decision = outcome.decision
    verdict = "grant" if decision.granted else "deny"
    count("Decision", decision=verdict, reason=decision.reason.value)
    milliseconds("VerifyLatency", outcome.latency_ms)
    for alarm in outcome.alarms:
        # the cool-down alarms watch the Refused metric (face-only refused at a terminal, a claim code refused)
        logger.warning("door back-off started", extra={"alarm_code": alarm, "terminal_id": outcome.terminal_id})
        count("Refused", code=alarm)
    next_step = decision.next_step
    return DecisionOut(
        decision=verdict,
        decision_id=outcome.decision_id,
        unlock_token=outcome.unlock_token,
        next=None if next_step is None else next_step.value,
        hint=None if decision.hint is None else decision.hint.value,
    )

"""Door-terminal route: a signed face crop (or a burst of up to 3 frames) → grant or deny."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.api.body import image_parts, raw_body
from facegate.api.deps import provide_services
from facegate.api.observability import count, milliseconds
from facegate.api.openapi import TERMINAL_SECURITY, responses
from facegate.api.schemas import DecisionOut
from facegate.errors import Forbidden, RateLimited, Unauthorized
from facegate.usecases import door
from facegate.usecases.audit import record_terminal_refusal
from facegate.usecases.context import Services

router = Router()
ServicesDep = Annotated[Services, Depends(provide_services)]
DoorId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post(
    "/doors/<door_id>/verify",
    security=TERMINAL_SECURITY,
    responses=responses(200, DecisionOut, 400, 401, 403, 413, 415, 429, 503),
    tags=["door"],
)
def verify_at_door(door_id: DoorId, services: ServicesDep) -> DecisionOut:
    """Decide whether to open the door; authenticated by the terminal's HMAC request signature."""
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    body = raw_body(event, services.settings.max_body_bytes)
    headers = event.headers
    request = door.SignedRequest(
        method=event.request_context.http.method,
        path=event.raw_path,
        key_id=headers.get("x-facegate-key-id"),
        timestamp=headers.get("x-facegate-timestamp"),
        nonce=headers.get("x-facegate-nonce"),
        signature=headers.get("x-facegate-signature"),
        body=body,
        claim=headers.get("x-facegate-claim"),
    )
    try:
        authenticated = door.authenticate(services, request, door_id)
        frames = image_parts(headers.get("content-type"), body, "frame")
        outcome = door.verify(services, authenticated, frames)
    except (Unauthorized, Forbidden, RateLimited) as refused:
        record_terminal_refusal(services, request.key_id, door_id, refused)
        raise
    decision = outcome.decision
    verdict = "grant" if decision.granted else "deny"
    count("Decision", decision=verdict, reason=decision.reason.value)
    milliseconds("VerifyLatency", outcome.latency_ms)
    next_step = decision.next_step
    return DecisionOut(
        decision=verdict,
        decision_id=outcome.decision_id,
        unlock_token=outcome.unlock_token,
        next=None if next_step is None else next_step.value,
    )

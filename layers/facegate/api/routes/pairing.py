"""Kiosk pairing (no credential but the one-time code; throttled per address block; audited)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.api_gateway import Router

from facegate.api.deps import ServicesDep, source_ip
from facegate.api.openapi import responses
from facegate.api.records import body_from
from facegate.api.schemas import PairIn, PairOut
from facegate.usecases import pairing

router = Router()


@router.post(
    "/pair",
    responses=responses(200, PairOut, 400, 404, 413, 415, 429),
    tags=["terminal"],
)
def pair(body: PairIn, services: ServicesDep, request: Request) -> PairOut:
    """Trade a pairing code for the terminal's credentials, once: a fresh key id and secret (any earlier key
    of the terminal stops working). Unknown, used or expired codes: 404 ``pairing_code_invalid``; too many of
    them from one address block: 429."""
    event: Any = request.resolved_event
    host = ((event.get("requestContext") or {}).get("domainName")) or "localhost"
    paired = pairing.pair(services, body.pairing_code, source_ip(request), f"https://{host}")
    return body_from(PairOut, paired.terminal, paired)

"""Visitor routes: the invite token in the path is the credential (only its SHA-256 is stored)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from facegate.api.body import MAX_SELFIE_PARTS, image_parts, raw_body
from facegate.api.deps import ServicesDep, SourceDep
from facegate.api.idempotency import run_once
from facegate.api.observability import count
from facegate.api.openapi import responses
from facegate.api.schemas import (
    ConsentIn,
    ConsentOut,
    EnrollmentOut,
    ErasureOut,
    NoticeOut,
    NoticeSummaries,
    NoticeSummaryOut,
    NoticeText,
    StatusOut,
)
from facegate.errors import FaceRejected
from facegate.usecases import visitor
from facegate.usecases.shared import require_site

router = Router()
Token = Annotated[str, Path(min_length=1, max_length=128, description="the invite token from the registration link")]


@router.get("/register/<token>/notice", responses=responses(200, NoticeOut, 401, 410, 429), tags=["visitor"])
def read_notice(token: Token, services: ServicesDep, source: SourceDep) -> NoticeOut:
    """What is stored, why, for how long, who controls it, and the current consent version."""
    notice = visitor.notice(services, token, source)
    return NoticeOut(
        consent_version=notice.consent_version,
        controller=notice.controller,
        purpose=notice.purpose,
        data_stored=list(notice.data_stored),
        not_stored=list(notice.not_stored),
        retention=notice.retention,
        rights=list(notice.rights),
        site_name=notice.site_name,
        valid_from=notice.valid_from,
        valid_until=notice.valid_until,
        text=NoticeText(**notice.text),
        pose_order=list(notice.pose_order),
        summary=NoticeSummaries(
            **{
                language: NoticeSummaryOut(
                    controller=item.controller,
                    purpose=item.purpose,
                    items=list(item.items),
                    not_stored=list(item.not_stored),
                    retention=item.retention,
                    refusal=item.refusal,
                    rights=list(item.rights),
                    biometric_consent=item.biometric_consent,
                    third_parties=item.third_parties,
                )
                for language, item in notice.summary.items()
            }
        ),
    )


@router.post(
    "/register/<token>/consent",
    status_code=201,
    responses=responses(201, ConsentOut, 400, 401, 409, 410, 413, 415, 429),
    tags=["visitor"],
)
def give_consent(token: Token, body: ConsentIn, services: ServicesDep, source: SourceDep) -> ConsentOut:
    """Record explicit consent to the notice version the visitor read."""
    record = visitor.consent(
        services, token, source, body.consent_version, body.accepted, biometric=body.biometric is True
    )
    return ConsentOut.of(record)


@router.post(
    "/register/<token>/selfie",
    status_code=201,
    responses=responses(201, EnrollmentOut, 400, 401, 409, 410, 413, 415, 422, 429),
    tags=["visitor"],
)
def enroll_selfie(token: Token, services: ServicesDep, source: SourceDep) -> EnrollmentOut:
    """Enroll 1-5 selfies (one image body, or multipart parts named ``image``); images are never stored.

    The invite and its site are read once: the invite before the body (no valid link, no parsing), the site
    for the template's key and, on a replayed ``Idempotency-Key``, for the claim code the first request made.
    """
    event: APIGatewayProxyEventV2 = router.current_event  # type: ignore[assignment]
    invite = visitor.find_invite(services, token, source)
    body = raw_body(event, services.settings.max_body_bytes)
    images = image_parts(event.headers.get("content-type"), body, "image", max_parts=MAX_SELFIE_PARTS)
    key = event.headers.get("idempotency-key")
    site = require_site(services, invite.site_id)
    made: list[str] = []

    def enroll() -> dict[str, object]:
        try:
            result = visitor.enroll(services, invite, images, site)
        except FaceRejected as exc:
            count("EnrollRefused", reason=exc.code)
            raise
        count("Enrolled")
        made.append(result.claim_code)
        return {"quality": list(result.quality), "enrolled_at": result.enrolled_at.isoformat(), "n": result.n_images}

    images_hash = hashlib.sha256(b"".join(hashlib.sha256(image).digest() for image in images)).hexdigest()
    scope = visitor.enrollment_scope(invite) if key else ""
    outcome = run_once(services, scope, key, images_hash, enroll, router.lambda_context) if key else enroll()
    claim_code = made[0] if made else visitor.stored_claim_code(services, invite, site)
    return EnrollmentOut.model_validate(
        {
            "status": "enrolled",
            "quality": outcome["quality"],
            "claim_code": claim_code or "",
            "enrolled_at": outcome["enrolled_at"],
            "n_images": outcome["n"],
        }
    )


@router.get("/register/<token>/status", responses=responses(200, StatusOut, 401, 410, 429), tags=["visitor"])
def read_status(token: Token, services: ServicesDep, source: SourceDep) -> StatusOut:
    """Where the visitor is in the flow; the claim code once enrolled; the erasure receipt once erased."""
    return StatusOut.of(visitor.status(services, token, source))


@router.delete("/register/<token>", responses=responses(200, ErasureOut, 401, 410, 429), tags=["visitor"])
def erase_me(token: Token, services: ServicesDep, source: SourceDep) -> ErasureOut:
    """Erase the visitor's template, claim code and consent, and end the link; returns a receipt."""
    receipt = visitor.erase(services, token, source)
    return ErasureOut.of(receipt, invite_id=None)  # the visitor's own link: no invite id to learn

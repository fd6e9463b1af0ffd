"""Contract-shaped fakes of the facegate API (docs/api.md) for ``page.route``, and request parsing helpers."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import urlparse

from PIL import Image

TOKEN = "tok_" + "A" * 39
CLAIM_CODE = "K7Q2M9XA"
CONSENT_VERSION = "2026-11-01"
VALID_FROM = "2026-11-28T09:00:00Z"
VALID_UNTIL = "2026-11-28T18:00:00Z"
NOTICE = {
    "consent_version": CONSENT_VERSION,
    "controller": "Sejong Complex, Building 6 (the building operator), with facegate as processor",
    "purpose": "Recognise you at the doors you were invited to, during your visit only.",
    "data_stored": [
        "an encrypted face template (128 numbers) made from your selfies",
        "your consent record (notice version and time)",
    ],
    "not_stored": ["your selfies or any door camera image"],
    "retention": "The template is deleted within 1 hour(s) after your visit ends.",
    "rights": ["withdraw consent and erase your data at any time with this link"],
    "site_name": "Sejong Complex, Building 6",
    "valid_from": VALID_FROM,
    "valid_until": VALID_UNTIL,
    "text": {
        "en": "We make a face template from your selfies.\n\nThe photos are never stored.",
        "ko": "셀카로 얼굴 특징 정보를 만듭니다.\n\n사진은 저장하지 않습니다.",
    },
}
"""NoticeOut as the API returns it: structured fields in English, the full text in both languages."""
NOTICE_LOCALIZED = {
    **NOTICE,
    "controller": {"en": "The building operator", "ko": "건물 관리 주체"},
    "purpose": {"en": "Letting you in during your visit", "ko": "방문 기간 중 출입 확인"},
    "data_stored": [{"en": "an encrypted face template", "ko": "암호화된 얼굴 특징 정보"}],
    "not_stored": [{"en": "your selfies", "ko": "셀카 사진"}],
    "retention": {"en": "until one hour after your visit", "ko": "방문 종료 1시간 후까지"},
    "rights": [{"en": "erase your data at any time", "ko": "언제든지 정보 삭제"}],
}
"""A possible future notice with per-language structured fields (the page shows them in Korean too)."""


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart/form-data body, parsed by the standard library (independent of the page)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    assert message.is_multipart(), f"not multipart: {content_type}"
    parts = []
    for item in message.iter_parts():
        payload = item.get_payload(decode=True)
        parts.append(
            Part(
                name=str(item.get_param("name", header="content-disposition")),
                filename=item.get_filename(),
                content_type=item.get_content_type(),
                data=payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


def image_info(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of encoded image bytes."""
    with Image.open(io.BytesIO(data)) as image:
        return str(image.format), image.width, image.height


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    abort: bool = False


def error(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": f"{code} (safe message)"}}, headers or {})


class FakeRegistrationApi:
    """The visitor routes of one invite. ``status`` drives GET status; queued replies override a route once."""

    def __init__(self, status: str = "invited", *, claim_code: str = CLAIM_CODE) -> None:
        self.status = status
        self.claim_code = claim_code
        self.receipt: dict[str, Any] | None = None
        self.calls: list[Recorded] = []
        self.queued: dict[str, list[Reply]] = {}

    def queue(self, route: str, reply: Reply) -> None:
        """Answer the next call of ``route`` (status | notice | consent | selfie | delete) with ``reply``."""
        self.queued.setdefault(route, []).append(reply)

    def install(self, page: Any) -> None:
        page.route(re.compile(r"^https?://[^/]+/register/[^/?]+(/[a-z]+)?(\?.*)?$"), self._handle)

    def calls_to(self, method: str, suffix: str) -> list[Recorded]:
        return [c for c in self.calls if c.method == method and c.path == f"/register/{TOKEN}{suffix}"]

    def _handle(self, route: Any) -> None:
        request = route.request
        path = urlparse(request.url).path
        method = request.method
        if method == "GET" and path.rstrip("/") == f"/register/{TOKEN}":
            route.continue_()
            return
        body = request.post_data_buffer or b""
        self.calls.append(Recorded(method, path, dict(request.all_headers()), body))
        name = {
            ("GET", "/status"): "status",
            ("GET", "/notice"): "notice",
            ("POST", "/consent"): "consent",
            ("POST", "/selfie"): "selfie",
            ("DELETE", ""): "delete",
        }.get((method, path.removeprefix(f"/register/{TOKEN}")))
        if path.split("/")[2] != TOKEN:
            reply = error(401, "invalid_token")
        elif name is None:
            reply = error(404, "not_found")
        elif self.queued.get(name):
            reply = self.queued[name].pop(0)
        else:
            reply = getattr(self, f"_{name}")(body)
        if reply.abort:
            route.abort("connectionrefused")
            return
        route.fulfill(
            status=reply.status,
            headers={"Content-Type": "application/json", **reply.headers},
            body=json.dumps(reply.body) if reply.body is not None else "",
        )

    def _status(self, body: bytes) -> Reply:
        data: dict[str, Any] = {"status": self.status, "valid_from": VALID_FROM, "valid_until": VALID_UNTIL}
        if self.status in ("consented", "enrolled"):
            data["consent_version"] = CONSENT_VERSION
        if self.status == "enrolled":
            data["enrolled_at"] = "2026-11-27T10:00:00Z"
            data["claim_code"] = self.claim_code
        if self.status == "erased" and self.receipt is not None:
            data["erased_at"] = self.receipt["erased_at"]
            data["erased_items"] = self.receipt["items"]
        return Reply(200, data)

    def _notice(self, body: bytes) -> Reply:
        return Reply(200, NOTICE)

    def _consent(self, body: bytes) -> Reply:
        if self.status == "erased":
            return error(410, "invite_erased")
        sent = json.loads(body or b"{}")
        if sent.get("consent_version") != CONSENT_VERSION:
            return error(409, "consent_version_mismatch")
        if sent.get("accepted") is not True:
            return error(400, "invalid_request")
        self.status = "consented"
        return Reply(201, {"consent_version": CONSENT_VERSION, "accepted_at": "2026-11-27T09:59:00Z"})

    def _selfie(self, body: bytes) -> Reply:
        if self.status == "erased":
            return error(410, "invite_erased")
        if self.status == "invited":
            return error(409, "consent_required")
        self.status = "enrolled"
        quality = {
            "ok": True,
            "face_size_px": 80.0,
            "box_height_px": 190.0,
            "sharpness": 320.0,
            "brightness": 120.0,
            "yaw": 2.0,
            "pitch": 1.0,
            "roll": 0.5,
            "issues": [],
            "flags": [],
        }
        return Reply(
            201,
            {
                "status": "enrolled",
                "quality": [quality] * 3,
                "claim_code": self.claim_code,
                "enrolled_at": "2026-11-27T10:00:00Z",
                "n_images": 3,
            },
        )

    def _delete(self, body: bytes) -> Reply:
        self.status = "erased"
        self.receipt = {"erased_at": "2026-11-27T10:05:00Z", "items": ["template", "consent", "claim_code"]}
        return Reply(200, dict(self.receipt))


@dataclass
class VerifyCall:
    headers: dict[str, str]
    body: bytes
    path: str
    signature_ok: bool
    problem: str
    frames: list[Part]


class FakeDoorApi:
    """POST /doors/{door_id}/verify that checks the terminal signature with Python's own HMAC."""

    def __init__(self, *, key_id: str, secret: str, door_id: str) -> None:
        self.key_id = key_id
        self.secret = secret
        self.door_id = door_id
        self.calls: list[VerifyCall] = []
        self.replies: list[Reply] = []
        self.nonces: set[str] = set()

    def install(self, page: Any) -> None:
        page.route(re.compile(r"^https?://[^/]+/doors/[^/]+/verify$"), self._handle)

    def verify_signature(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str:
        """'' when the request is correctly signed, else the API error code it deserves."""
        names = ("x-facegate-key-id", "x-facegate-timestamp", "x-facegate-nonce", "x-facegate-signature")
        if any(not headers.get(name) for name in names):
            return "missing_signature"
        timestamp, nonce = headers["x-facegate-timestamp"], headers["x-facegate-nonce"]
        if (
            not timestamp.isdigit()
            or len(nonce) < 16
            or not re.fullmatch(r"[0-9a-f]{64}", headers["x-facegate-signature"])
        ):
            return "missing_signature"
        if headers["x-facegate-key-id"] != self.key_id:
            return "unknown_key"
        if abs(int(timestamp) - time.time()) > 60:
            return "clock_skew"
        if nonce in self.nonces:
            return "nonce_reused"
        lines = [method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
        if "x-facegate-claim" in headers:
            lines.append(headers["x-facegate-claim"])
        expected = hmac.new(self.secret.encode("utf-8"), "\n".join(lines).encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["x-facegate-signature"]):
            return "invalid_signature"
        self.nonces.add(nonce)
        return ""

    def _handle(self, route: Any) -> None:
        request = route.request
        path = urlparse(request.url).path
        headers = {k.lower(): v for k, v in request.all_headers().items()}
        body = request.post_data_buffer or b""
        problem = self.verify_signature(request.method, path, headers, body)
        frames = parse_multipart(body, headers.get("content-type", "")) if not problem else []
        self.calls.append(VerifyCall(headers, body, path, problem == "", problem, frames))
        if problem:
            reply = error(401, problem)
        elif path != f"/doors/{self.door_id}/verify":
            reply = error(403, "door_not_allowed")
        elif self.replies:
            reply = self.replies.pop(0)
        else:
            reply = decision("grant")
        route.fulfill(
            status=reply.status,
            headers={"Content-Type": "application/json", **reply.headers},
            body=json.dumps(reply.body),
        )


def decision(kind: str, next_step: str | None = None, *, decision_id: str = "dec_01") -> Reply:
    """A verify answer as the API gives it: decision, decision_id, unlock_token (grant only) and ``next``
    (null on grant, else show_code | retry | see_reception). Never a similarity, threshold or reason."""
    body: dict[str, Any] = {
        "decision": kind,
        "decision_id": decision_id,
        "unlock_token": "eyJhbGciOiJIUzI1NiJ9.e30.sig" if kind == "grant" else None,
        "next": None if kind == "grant" else (next_step or "retry"),
    }
    return Reply(200, body)

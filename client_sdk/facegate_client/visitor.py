"""Visitor client: notice, consent, selfie enrollment, status and erasure, with the invite link as credential."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from facegate_client._http import ApiClient, ClientOptions, image_body, load, segment
from facegate_client.images import ImageInput, prepare_images
from facegate_client.models import Consent, Enrollment, ErasureReceipt, Notice, Status

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["VisitorClient", "parse_registration_url"]

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def parse_registration_url(registration_url: str) -> tuple[str, str]:
    """Split a registration link ``<api>/register/<token>`` into the API base URL and the invite token.

    Returns:
        ``(api_url, token)``; a query string or fragment on the link is ignored.

    Raises:
        ValueError: the link is not an http(s) URL ending in ``/register/<base64url token>``.
    """
    split = urlsplit(registration_url.strip())
    marker = "/register/"
    index = split.path.rfind(marker)
    if split.scheme not in ("http", "https") or index < 0:
        raise ValueError("a registration link looks like https://<api>/register/<token>")
    token = unquote(split.path[index + len(marker) :].rstrip("/"))
    if not _TOKEN.fullmatch(token):
        raise ValueError("the registration link carries no valid invite token")
    api_url = urlunsplit((split.scheme, split.netloc, split.path[:index], "", ""))
    return api_url, token


class VisitorClient(ApiClient):
    """Client for a visitor holding a registration link.

    Args:
        registration_url: the link from the invite, ``<api>/register/<token>``.
        options: ``timeout``, ``retries``, ``sleep``, ``transport``, ``user_agent`` (:class:`ClientOptions`).
            GETs, ``erase`` and ``enroll`` (which carries an Idempotency-Key) are retried on 429, 5xx and
            transport failures; ``consent`` only when the connection could not be established.
    """

    def __init__(self, registration_url: str, **options: Unpack[ClientOptions]) -> None:
        api_url, token = parse_registration_url(registration_url)
        super().__init__(api_url, **options)
        self._token = token
        self._prefix = f"/register/{segment(token)}"

    def __repr__(self) -> str:
        return f"VisitorClient(api_url={self.api_url!r})"

    @property
    def token(self) -> str:
        """The invite token (a credential: do not log it)."""
        return self._token

    def notice(self) -> Notice:
        """The privacy notice to show before asking for consent."""
        return load(Notice, self.call("GET", f"{self._prefix}/notice", idempotent=True))

    def consent(self, version: str | None = None, *, biometric: bool = False) -> Consent:
        """Record the visitor's explicit consent.

        Args:
            version: the ``consent_version`` of the notice the visitor read; None fetches the current notice
                and uses its version (only when the visitor has seen that notice).
            biometric: the visitor also gave, separately, the consent to the biometric data the notice asks
                for (``summary.*.biometric_consent``); recorded in the audit trail.
        """
        if version is None:
            version = self.notice().consent_version
        payload: dict[str, Any] = {"consent_version": version, "accepted": True}
        if biometric:
            payload["biometric"] = True
        return load(Consent, self.call("POST", f"{self._prefix}/consent", payload=payload, idempotent=False))

    def enroll(self, images: ImageInput | Sequence[ImageInput], *, idempotency_key: str | None = None) -> Enrollment:
        """Upload 1-3 selfies (fused into one template). Consent must have been given first.

        Each image is prepared by :func:`~facegate_client.prepare_image` (downscaled to ≤ 1280 px when larger).
        One image is sent as the raw body, several as ``multipart/form-data`` parts named ``image``.

        Args:
            images: one image or a sequence of 1-3 (bytes, paths or PIL images).
            idempotency_key: sent as ``Idempotency-Key``; default: a fresh UUID per call, reused on retries.

        Raises:
            FaceQualityError: 422 with the reason in ``code`` (``no_face``, ``too_blurry``, ...).
            ConflictError: ``consent_required`` or ``idempotency_conflict``.
            ValueError: no image or more than three.
        """
        prepared = prepare_images(images)
        body, content_type = image_body("image", prepared)
        key = idempotency_key or str(uuid.uuid4())
        response = self.request(
            "POST",
            f"{self._prefix}/selfie",
            body=body,
            content_type=content_type,
            headers={"Idempotency-Key": key},
            idempotent=True,
        )
        return load(Enrollment, response)

    def status(self) -> Status:
        """The registration state (``invited``, ``consented``, ``enrolled``, ``erased``, ``expired``)."""
        return load(Status, self.call("GET", f"{self._prefix}/status", idempotent=True))

    def erase(self) -> ErasureReceipt:
        """Withdraw: erase everything stored for this visitor and receive a receipt.

        A retried DELETE whose first attempt succeeded unseen may answer 410 (:class:`GoneError`).
        """
        return load(ErasureReceipt, self.call("DELETE", self._prefix, idempotent=True))

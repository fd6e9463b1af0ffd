"""Door-terminal client: signed face verification at a door."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from facegate_client._http import ApiClient, ClientOptions, SignFunction, image_body, load, segment
from facegate_client.images import MAX_FRAMES, ImageInput, prepare_images
from facegate_client.models import Challenge, Decision
from facegate_client.signing import Proof, signature_headers

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["LIVENESS_VERDICTS", "MAX_CHALLENGE_FRAMES", "TerminalClient"]

MAX_CHALLENGE_FRAMES = 6
"""Frames of a challenge: 1 or 2 per step, 3 steps."""
LIVENESS_VERDICTS = ("passed", "failed")
"""Values of a terminal's own liveness verdict (``X-Facegate-Liveness``)."""


class TerminalClient(ApiClient):
    """Client for a door terminal, authenticated by an HMAC-SHA256 request signature.

    Retry choice: ``verify`` is retried only when the connection could not be established (refused,
    DNS failure, connect timeout), because then the request never reached the server; each retry is
    signed again with a fresh timestamp and nonce. Once any byte was sent, it is never retried, not
    even on 429 or 5xx: every verify is an audited access attempt that counts towards the terminal's
    cool-down, a 5xx may come after the decision was recorded, and a person at the door is better
    served by fresh frames (or a claim code) than by re-sent old ones. A 429 raises
    :class:`~facegate_client.RateLimitedError` with ``retry_after`` so the door UI can say how long to wait.

    Args:
        api_url: API base URL.
        key_id: the terminal's key id (``X-Facegate-Key-Id``).
        secret: the terminal secret shown once by ``create_terminal``.
        clock: unix time in seconds used for ``X-Facegate-Timestamp`` (must be within 60 s of the server).
        options: ``timeout``, ``retries``, ``sleep``, ``transport``, ``user_agent`` (:class:`ClientOptions`);
            retries only when the connection could not be established.
    """

    def __init__(
        self,
        api_url: str,
        key_id: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(api_url, **options)
        if not key_id or not secret:
            raise ValueError("key_id and secret must not be empty")
        self.key_id = key_id
        self._secret = secret
        self._clock = clock

    def __repr__(self) -> str:
        return f"TerminalClient(api_url={self.api_url!r}, key_id={self.key_id!r})"

    def challenge(self, door_id: str, movements: Sequence[str] | None = None) -> Challenge:
        """Ask for a head-turn challenge at ``door_id`` (signed; never retried once sent).

        Args:
            door_id: the door this terminal guards.
            movements: draw from these only (at least two of ``left``, ``right``, ``up``, ``down``; default all
                four). With two, only 2 sequences remain: a weaker defence against pre-recorded videos.

        Raises:
            AuthenticationError, PermissionDeniedError, RateLimitedError: as for :meth:`verify`.
            BadRequestError: fewer than two movements, or an unknown one.
        """
        body = b"" if movements is None else json.dumps({"movements": list(movements)}).encode("utf-8")
        response = self.request(
            "POST",
            f"/doors/{segment(door_id)}/challenge",
            body=body,
            content_type=None if movements is None else "application/json",
            idempotent=False,
            sign=self._signer(),
        )
        return load(Challenge, response)

    def verify(
        self,
        frames: ImageInput | Sequence[ImageInput],
        door_id: str,
        claim: str | None = None,
        *,
        challenge: Challenge | str | None = None,
        liveness: str | None = None,
    ) -> Decision:
        """Ask whether the person in front of ``door_id`` may enter.

        Args:
            frames: one face image or a burst of 2-3 (bytes, paths or PIL images); one is sent as the raw
                body, several as ``multipart/form-data`` parts named ``frame``. Large images are downscaled
                to ≤ 1280 px. With a challenge: 1 or 2 frames of each step, all steps in order (3 or 6 frames).
            door_id: the door this terminal guards.
            claim: the visitor's claim code (QR or 8 characters) for a 1:1 check, sent as ``X-Facegate-Claim``.
            challenge: the :class:`Challenge` (or its id) the frames answer, sent signed as
                ``X-Facegate-Challenge``. The server checks the head movement before any matching; a failed
                check is a ``deny`` with ``next == "retry"``. A challenge is accepted once.
            liveness: this terminal's own presentation-attack verdict, ``passed`` or ``failed``, sent signed as
                ``X-Facegate-Liveness``; a ``passed`` counts only for a terminal registered with
                ``attests_liveness`` at a site that set ``accept_terminal_liveness``.

        Returns:
            The decision; a ``deny`` is a normal result, not an exception. On ``grant`` pass
            ``unlock_token`` to the door controller (it checks it with :func:`~facegate_client.verify_unlock_token`).

        Raises:
            AuthenticationError: signature problems (``clock_skew``, ``key_revoked``, ...).
            PermissionDeniedError: ``door_not_allowed``.
            RateLimitedError: ``rate_limited``: too many claim-code attempts from this terminal (see
                ``retry_after``). Repeated denies are no error: they suspend the terminal's face-only
                matching for a while, and a deny then says ``next`` ``show_code``.
        """
        challenge_id = challenge.challenge_id if isinstance(challenge, Challenge) else challenge
        if liveness is not None and liveness not in LIVENESS_VERDICTS:
            raise ValueError("liveness must be 'passed' or 'failed'")
        limit = MAX_FRAMES if challenge_id is None else MAX_CHALLENGE_FRAMES
        prepared = prepare_images(frames, limit=limit)
        body, content_type = image_body("frame", prepared)
        claim_code = (claim or "").strip() or None
        response = self.request(
            "POST",
            f"/doors/{segment(door_id)}/verify",
            body=body,
            content_type=content_type,
            idempotent=False,
            sign=self._signer(claim=claim_code, challenge=challenge_id, liveness=liveness),
        )
        return load(Decision, response)

    def _signer(self, **proof: Unpack[Proof]) -> SignFunction:
        """Signs each attempt of a request with a fresh timestamp and nonce, and ``proof`` (claim, challenge,
        liveness) when given."""
        return lambda method, path, body: signature_headers(
            self.key_id, self._secret, method, path, body, **proof, timestamp=int(self._clock())
        )

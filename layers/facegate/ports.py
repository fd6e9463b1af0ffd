"""Ports: the seams where facegate meets the outside world.

Only real seams are ports: the stores (DynamoDB), key management (KMS) and the face engine
(ONNX). Every port has an in-memory adapter (:mod:`facegate.adapters.memory`) that the unit
tests use and a production adapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from facegate.domain.models import (
    AuditQuery,
    AuditRecord,
    CandidateRow,
    Challenge,
    Consent,
    Door,
    HostUser,
    Invite,
    PairingCode,
    Site,
    SiteChanges,
    StoredTemplate,
    Terminal,
)
from facegate.vision.types import Detection, FloatArray, ImageArray, Template


class Repository(Protocol):
    """Directory (sites, doors, terminals, invites) and templates: one transactional store.

    Writes that must be atomic are single methods here (``enroll``, ``erase_visitor``).
    """

    def put_site(self, site: Site) -> None: ...

    def get_site(self, site_id: str) -> Site | None: ...

    def update_site(self, site_id: str, changes: SiteChanges) -> Site | None:
        """Apply ``changes`` to a site (its name, security level and/or whether it accepts attesting terminals'
        liveness verdicts); None if the site does not exist."""
        ...

    def get_template_version(self, site_id: str) -> int | None:
        """The site's template version (one cheap read), None if the site does not exist."""
        ...

    def put_door(self, door: Door) -> None: ...

    def get_door(self, site_id: str, door_id: str) -> Door | None: ...

    def list_doors(self, site_id: str) -> list[Door]: ...

    def put_terminal(self, terminal: Terminal) -> None: ...

    def get_terminal(self, terminal_id: str) -> Terminal | None: ...

    def get_terminal_by_key(self, key_id: str) -> Terminal | None: ...

    def revoke_terminal(self, terminal_id: str, at: datetime) -> Terminal | None:
        """Mark the terminal and its key revoked; None if it does not exist."""
        ...

    def put_invite(self, invite: Invite) -> None:
        """Store a new invite and its token-hash lookup (fails if the id exists)."""
        ...

    def get_invite(self, invite_id: str) -> Invite | None: ...

    def get_invite_by_token(self, token_hash: str) -> Invite | None: ...

    def record_consent(self, invite_id: str, consent: Consent) -> Invite:
        """Store the consent on an active invite.

        Raises:
            Gone: the invite was revoked.
        """
        ...

    def enroll(
        self, invite_id: str, template: StoredTemplate, claim_code_ct: bytes, consent_version: str, at: datetime
    ) -> None:
        """Atomically: put (replace) the template, mark the invite enrolled with its claim code, bump the
        site's template version — only if the invite still carries consent ``consent_version`` and is not
        revoked.

        Raises:
            Conflict: with code ``consent_required`` when the condition fails (consent withdrawn, revoked).
        """
        ...

    def erase_visitor(self, invite_id: str, at: datetime, revoke: bool) -> tuple[str, ...]:
        """Atomically delete the template, clear consent/claim code/enrollment, bump the site version; with
        ``revoke`` also revoke the invite (its token stops working). Returns the kinds of data removed.
        """
        ...

    def get_template_model_id(self, site_id: str, visitor_id: str) -> str | None:
        """The model id of a visitor's stored template (one projected read), None without a template."""
        ...

    def list_templates(self, site_id: str) -> Iterator[StoredTemplate]:
        """Every stored template of a site (all pages)."""
        ...

    def list_candidates(self, site_id: str) -> Iterator[CandidateRow]:
        """Every template of a site, only the fields the matcher needs (all pages; cheaper to read)."""
        ...

    def list_sites(self) -> list[Site]:
        """Every site (retired ones too), oldest first."""
        ...

    def retire_site(self, site_id: str, at: datetime) -> Site | None:
        """Set the site's ``retired_at`` (an earlier retirement time is kept); None if it does not exist."""
        ...

    def retire_door(self, site_id: str, door_id: str, at: datetime) -> Door | None:
        """Set the door's ``retired_at`` (an earlier retirement time is kept); None if it does not exist."""
        ...

    def list_terminals(self, site_id: str) -> list[Terminal]:
        """Every terminal of the site (revoked ones too), oldest first."""
        ...

    def rotate_terminal(
        self, terminal_id: str, old_key_id: str, new_key_id: str, secret_blob: bytes, at: datetime, paired: bool
    ) -> Terminal | None:
        """Atomically give the terminal a new key (the old key id stops working at once); with ``paired``
        also set ``paired_at``. None when the terminal does not exist, is revoked, or no longer holds
        ``old_key_id`` (a concurrent rotation won)."""
        ...

    def list_invites(
        self, site_id: str, limit: int, cursor: str | None, keep: Callable[[Invite], bool] | None = None
    ) -> tuple[list[Invite], str | None]:
        """Invites of the site, newest first, at most ``limit`` of those ``keep`` accepts; returns the next-page
        cursor (opaque) or None.

        Raises:
            InvalidRequest: the cursor is not one this method returned for this site.
        """
        ...

    def mark_arrived(self, invite_id: str, at: datetime) -> bool:
        """Set the invite's ``arrived_at`` unless it is set already (one conditional write); True when this
        call set it (the visitor's first arrival)."""
        ...


class AuditLog(Protocol):
    """Append-only audit trail (no images, templates, tokens or secrets)."""

    def record(self, record: AuditRecord) -> None: ...

    def query(self, query: AuditQuery, limit: int, cursor: str | None) -> tuple[list[AuditRecord], str | None]:
        """The records ``query`` selects, oldest first, at most ``limit`` after ``cursor`` (None: from the
        first); returns the next-page cursor (opaque) or None.

        Raises:
            InvalidRequest: the cursor is not one this method returned for this query's site and window.
        """
        ...


class Ephemeral(Protocol):
    """Short-lived state with TTL: nonces, rate-limit counters and cool-downs."""

    def claim_nonce(self, scope: str, nonce: str, expires_at: datetime) -> bool:
        """Record ``nonce`` for ``scope``; False if it was already recorded (replay)."""
        ...

    def hit(self, counter: str, window_seconds: int, now: datetime) -> int:
        """Count one event; returns how many events fell in the last ``window_seconds`` up to ``now``.

        Sliding-window estimate: the count of the current fixed window plus the previous window's count
        weighted by the share of it that still lies within ``window_seconds`` of ``now``, rounded up (so a
        burst that straddles a window boundary is still counted in full).
        """
        ...

    def block(self, key: str, until: datetime) -> None:
        """Block ``key`` until ``until``."""
        ...

    def blocked_until(self, key: str, now: datetime) -> datetime | None:
        """When the block on ``key`` ends, or None if not blocked at ``now``."""
        ...

    def put_pairing(self, pairing: PairingCode) -> None:
        """Store a kiosk pairing code (by its hash) until its ``expires_at``."""
        ...

    def take_pairing(self, code_hash: str, now: datetime) -> PairingCode | None:
        """Remove and return the pairing code (single use: of concurrent takes exactly one gets it); None when
        it is unknown, already taken, or expired at ``now``."""
        ...

    def put_challenge(self, challenge: Challenge) -> None:
        """Store a new head-turn challenge until its ``expires_at``."""
        ...

    def take_challenge(self, challenge_id: str, now: datetime) -> Challenge | None:
        """Remove and return the challenge (single use: of concurrent takes exactly one gets it); None when
        it is unknown, already taken, or expired at ``now``."""
        ...

    def remember_fingerprints(
        self, scope: str, fingerprints: Sequence[int], window_seconds: int, now: datetime
    ) -> None:
        """Add frame fingerprints to ``scope``'s memory of the current fixed window of ``window_seconds``."""
        ...

    def recent_fingerprints(self, scope: str, window_seconds: int, now: datetime) -> list[int]:
        """Fingerprints remembered for ``scope`` in the current and the previous window (so each is kept for
        at least ``window_seconds``, at most twice that)."""
        ...


def sliding_count(current: int, previous: int, window_seconds: int, now: datetime) -> int:
    """The sliding-window estimate :meth:`Ephemeral.hit` returns (see there)."""
    elapsed = (now.timestamp() % window_seconds) / window_seconds
    return math.ceil(current + previous * (1.0 - elapsed) - 1e-9)


class Mailer(Protocol):
    """Sends e-mail (Amazon SES; the local stack's SES runs on moto and keeps an outbox)."""

    def send(self, to: str, subject: str, text: str, html: str, kind: str) -> str:
        """Send one message from the configured sender; returns the provider's message id.

        ``kind`` (``invite``, ``arrival``) is a tag for logs and the local outbox, never the body.

        Raises:
            DeliveryFailed: the provider refused or could not be reached.
        """
        ...


class EventPublisher(Protocol):
    """Publishes facegate events (Amazon EventBridge; moto locally) for building systems to subscribe to."""

    def publish(self, detail_type: str, detail: Mapping[str, object], at: datetime) -> None:
        """Publish one event with ``source`` ``facegate``; ``detail`` is JSON-serialisable.

        Raises:
            DeliveryFailed: the bus refused the event or could not be reached.
        """
        ...


class Directory(Protocol):
    """The user directory (Amazon Cognito): host users and the names behind user ids."""

    def create_host(self, email: str, name: str, site_ids: Sequence[str], temporary_password: str) -> HostUser:
        """Create a user in the group ``hosts`` scoped to ``site_ids`` who must set a new password at first
        sign-in (no invitation e-mail is sent: the caller hands ``temporary_password`` over).

        Raises:
            Conflict: ``host_exists`` when a user with this e-mail exists.
        """
        ...

    def list_hosts(self) -> list[HostUser]:
        """Every user of the group ``hosts`` (disabled ones too), ordered by e-mail."""
        ...

    def disable_host(self, username: str) -> HostUser | None:
        """Disable a host user (sign-in refused; tokens already issued live until they expire); None when no
        host of that name exists."""
        ...

    def names_for(self, subs: Iterable[str]) -> dict[str, str]:
        """Display names (the ``name`` attribute, else the e-mail) of the users with these ``sub`` ids;
        unknown ids are left out."""
        ...


class KeyService(Protocol):
    """Envelope key management (KMS). ``context`` is bound as KMS encryption context."""

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        """A new AES-256 data key: (plaintext 32 bytes, encrypted blob)."""
        ...

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes: ...

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes: ...


class FaceEnginePort(Protocol):
    """What the backend needs from the face engine (:class:`facegate.vision.FaceEngine`)."""

    @property
    def model_id(self) -> str: ...

    def enroll_template(self, images: bytes | Sequence[bytes]) -> Template: ...

    def probe_template(self, frames: bytes | Sequence[bytes]) -> Template: ...

    def observe(self, frames: Sequence[bytes]) -> list[tuple[Detection, FloatArray, ImageArray]]:
        """Per frame of a liveness challenge: the dominant face, its unit descriptor and its aligned chip.

        Raises:
            FaceRejected: ``no_face`` when a frame shows no face.
        """
        ...

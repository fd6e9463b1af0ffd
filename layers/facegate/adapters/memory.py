"""In-memory adapters of every port: first-class, used by unit tests and quick experiments.

They honour the same contracts as the DynamoDB/KMS adapters (atomicity, conditions, TTL
semantics at read time), guarded by one lock each so they are safe under threads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
from facegate.errors import Conflict, DeliveryFailed, FaceRejected, Gone, InvalidRequest, NotFound
from facegate.ports import sliding_count
from facegate.security.envelope import DecryptionFailed
from facegate.vision.types import Box, Detection, FloatArray, ImageArray, Template


class MemoryRepository:
    """Directory and templates in dictionaries (see :class:`facegate.ports.Repository`)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.sites: dict[str, Site] = {}
        self.doors: dict[tuple[str, str], Door] = {}
        self.terminals: dict[str, Terminal] = {}
        self.keys: dict[str, str] = {}
        self.invites: dict[str, Invite] = {}
        self.tokens: dict[str, str] = {}
        self.templates: dict[tuple[str, str], StoredTemplate] = {}

    def put_site(self, site: Site) -> None:
        with self._lock:
            if site.site_id in self.sites:
                raise Conflict("site exists")
            self.sites[site.site_id] = site

    def get_site(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def update_site(self, site_id: str, changes: SiteChanges) -> Site | None:
        with self._lock:
            site = self.sites.get(site_id)
            if site is None:
                return None
            site = replace(site, **changes.changed())
            self.sites[site_id] = site
            return site

    def get_template_version(self, site_id: str) -> int | None:
        site = self.sites.get(site_id)
        return None if site is None else site.template_version

    def put_door(self, door: Door) -> None:
        with self._lock:
            if door.site_id not in self.sites:
                raise NotFound("site not found")
            self.doors[(door.site_id, door.door_id)] = door

    def get_door(self, site_id: str, door_id: str) -> Door | None:
        return self.doors.get((site_id, door_id))

    def list_doors(self, site_id: str) -> list[Door]:
        return [door for (site, _), door in sorted(self.doors.items()) if site == site_id]

    def put_terminal(self, terminal: Terminal) -> None:
        with self._lock:
            self.terminals[terminal.terminal_id] = terminal
            self.keys[terminal.key_id] = terminal.terminal_id

    def get_terminal(self, terminal_id: str) -> Terminal | None:
        return self.terminals.get(terminal_id)

    def get_terminal_by_key(self, key_id: str) -> Terminal | None:
        return _through(self.keys, self.terminals, key_id)

    def revoke_terminal(self, terminal_id: str, at: datetime) -> Terminal | None:
        return self._stamp_once(self.terminals, terminal_id, "revoked_at", at)

    def _stamp_once[K, R](self, table: dict[K, R], key: K, field: str, at: datetime) -> R | None:
        """Set the record's ``field`` to ``at`` unless it is set already (an earlier time is kept); None when
        there is no record ``key``."""
        with self._lock:
            record = table.get(key)
            if record is None:
                return None
            if getattr(record, field) is None:
                record = replace(record, **{field: at})  # type: ignore[type-var]  # R: a record dataclass
                table[key] = record
            return record

    def put_invite(self, invite: Invite) -> None:
        with self._lock:
            if invite.invite_id in self.invites or invite.token_hash in self.tokens:
                raise Conflict("invite exists")
            self.invites[invite.invite_id] = invite
            self.tokens[invite.token_hash] = invite.invite_id

    def get_invite(self, invite_id: str) -> Invite | None:
        return self.invites.get(invite_id)

    def get_invite_by_token(self, token_hash: str) -> Invite | None:
        return _through(self.tokens, self.invites, token_hash)

    def record_consent(self, invite_id: str, consent: Consent) -> Invite:
        with self._lock:
            invite = self.invites.get(invite_id)
            if invite is None:
                raise NotFound("invite not found")
            if invite.revoked_at is not None:
                raise Gone(code="invite_revoked")
            invite = replace(invite, consent=consent)
            self.invites[invite_id] = invite
            return invite

    def enroll(
        self, invite_id: str, template: StoredTemplate, claim_code_ct: bytes, consent_version: str, at: datetime
    ) -> None:
        with self._lock:
            invite = self.invites.get(invite_id)
            if (
                invite is None
                or invite.revoked_at is not None
                or invite.consent is None
                or invite.consent.version != consent_version
            ):
                raise Conflict("consent is required before enrollment", code="consent_required")
            self.templates[(template.site_id, template.visitor_id)] = template
            self.invites[invite_id] = replace(invite, enrolled_at=at, claim_code_ct=claim_code_ct, erased_at=None)
            self._bump(invite.site_id)

    def erase_visitor(self, invite_id: str, at: datetime, revoke: bool) -> tuple[str, ...]:
        with self._lock:
            invite = self.invites.get(invite_id)
            if invite is None:
                raise NotFound("invite not found")
            has_template = self.templates.pop((invite.site_id, invite_id), None) is not None
            items = invite.erasure_items(has_template, revoke)
            self.invites[invite_id] = replace(
                invite,
                consent=None,
                enrolled_at=None,
                claim_code_ct=None,
                erased_at=at,
                revoked_at=at if revoke else invite.revoked_at,
                display_name=None if revoke else invite.display_name,
                email=None,
                link_ct=None,
                arrived_at=None,
            )
            self._bump(invite.site_id)
            return items

    def get_template_model_id(self, site_id: str, visitor_id: str) -> str | None:
        template = self.templates.get((site_id, visitor_id))
        return None if template is None else template.model_id

    def list_templates(self, site_id: str) -> Iterator[StoredTemplate]:
        with self._lock:
            rows = [t for (site, _), t in self.templates.items() if site == site_id]
        yield from rows

    def list_candidates(self, site_id: str) -> Iterator[CandidateRow]:
        for t in self.list_templates(site_id):
            yield CandidateRow(ciphertext=t.ciphertext, **t.eligibility())

    def list_sites(self) -> list[Site]:
        with self._lock:
            return sorted(self.sites.values(), key=lambda site: (site.created_at, site.site_id))

    def retire_site(self, site_id: str, at: datetime) -> Site | None:
        return self._stamp_once(self.sites, site_id, "retired_at", at)

    def retire_door(self, site_id: str, door_id: str, at: datetime) -> Door | None:
        return self._stamp_once(self.doors, (site_id, door_id), "retired_at", at)

    def list_terminals(self, site_id: str) -> list[Terminal]:
        with self._lock:
            found = [t for t in self.terminals.values() if t.site_id == site_id]
        return sorted(found, key=lambda t: (t.created_at, t.terminal_id))

    def rotate_terminal(
        self, terminal_id: str, old_key_id: str, new_key_id: str, secret_blob: bytes, at: datetime, paired: bool
    ) -> Terminal | None:
        with self._lock:
            terminal = self.terminals.get(terminal_id)
            if terminal is None or terminal.revoked_at is not None or terminal.key_id != old_key_id:
                return None
            terminal = replace(
                terminal,
                key_id=new_key_id,
                secret_blob=secret_blob,
                paired_at=at if paired else terminal.paired_at,
            )
            self.terminals[terminal_id] = terminal
            self.keys.pop(old_key_id, None)
            self.keys[new_key_id] = terminal_id
            return terminal

    def list_invites(
        self, site_id: str, limit: int, cursor: str | None, keep: Callable[[Invite], bool] | None = None
    ) -> tuple[list[Invite], str | None]:
        with self._lock:
            rows = sorted(
                (i for i in self.invites.values() if i.site_id == site_id),
                key=lambda i: (i.created_at, i.invite_id),
                reverse=True,
            )
        start = 0
        if cursor is not None:
            ids = [i.invite_id for i in rows]
            if cursor not in ids:
                raise InvalidRequest("next_token is not valid for this list", code="invalid_request")
            start = ids.index(cursor) + 1
        page: list[Invite] = []
        for index in range(start, len(rows)):
            if keep is None or keep(rows[index]):
                if len(page) == limit:
                    return page, page[-1].invite_id
                page.append(rows[index])
        return page, None

    def mark_arrived(self, invite_id: str, at: datetime) -> bool:
        with self._lock:
            invite = self.invites.get(invite_id)
            if invite is None or invite.arrived_at is not None:
                return False
            self.invites[invite_id] = replace(invite, arrived_at=at)
            return True

    def _bump(self, site_id: str) -> None:
        site = self.sites[site_id]
        self.sites[site_id] = replace(site, template_version=site.template_version + 1)


def _through[R](index: Mapping[str, str], records: Mapping[str, R], key: str) -> R | None:
    """The record a lookup ``index`` points ``key`` at (None when either has no entry)."""
    record_id = index.get(key)
    return None if record_id is None else records.get(record_id)


class MemoryAuditLog:
    """Audit records in a list, queried by site and time range."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[AuditRecord] = []

    def record(self, record: AuditRecord) -> None:
        with self._lock:
            self.records.append(record)

    def query(self, query: AuditQuery, limit: int, cursor: str | None) -> tuple[list[AuditRecord], str | None]:
        with self._lock:
            rows = sorted(filter(query.keeps, self.records), key=lambda r: (r.at, r.event_id))
        if cursor is not None and not cursor.isdigit():
            raise InvalidRequest("next_token is not valid", code="invalid_request")
        offset = int(cursor) if cursor else 0
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return page, (str(offset + limit) if more else None)


class MemoryEphemeral:
    """Nonces, counters and blocks with expiry evaluated at read time (like DynamoDB TTL + filters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nonces: dict[str, datetime] = {}
        self.counters: dict[str, int] = {}
        self.blocks: dict[str, datetime] = {}
        self.challenges: dict[str, Challenge] = {}
        self.pairings: dict[str, PairingCode] = {}
        self.fingerprints: dict[str, list[int]] = {}

    def claim_nonce(self, scope: str, nonce: str, expires_at: datetime) -> bool:
        key = f"{scope}#{nonce}"
        with self._lock:
            if key in self.nonces:
                return False
            self.nonces[key] = expires_at
            return True

    def hit(self, counter: str, window_seconds: int, now: datetime) -> int:
        window = int(now.timestamp()) // window_seconds
        key = f"{counter}#{window}"
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            current = self.counters[key]
            previous = self.counters.get(f"{counter}#{window - 1}", 0)
        return sliding_count(current, previous, window_seconds, now)

    def block(self, key: str, until: datetime) -> None:
        with self._lock:
            self.blocks[key] = until

    def blocked_until(self, key: str, now: datetime) -> datetime | None:
        until = self.blocks.get(key)
        return until if until is not None and until > now else None

    def put_pairing(self, pairing: PairingCode) -> None:
        with self._lock:
            if pairing.code_hash in self.pairings:
                raise Conflict("pairing code exists")
            self.pairings[pairing.code_hash] = pairing

    def take_pairing(self, code_hash: str, now: datetime) -> PairingCode | None:
        with self._lock:
            pairing = self.pairings.pop(code_hash, None)
        return pairing if pairing is not None and pairing.expires_at > now else None

    def put_challenge(self, challenge: Challenge) -> None:
        with self._lock:
            self.challenges[challenge.challenge_id] = challenge

    def take_challenge(self, challenge_id: str, now: datetime) -> Challenge | None:
        with self._lock:
            challenge = self.challenges.pop(challenge_id, None)
        return challenge if challenge is not None and challenge.expires_at > now else None

    def remember_fingerprints(
        self, scope: str, fingerprints: Sequence[int], window_seconds: int, now: datetime
    ) -> None:
        window = int(now.timestamp()) // window_seconds
        with self._lock:
            self.fingerprints.setdefault(f"{scope}#{window}", []).extend(int(f) for f in fingerprints)
            self.fingerprints.pop(f"{scope}#{window - 2}", None)

    def recent_fingerprints(self, scope: str, window_seconds: int, now: datetime) -> list[int]:
        window = int(now.timestamp()) // window_seconds
        with self._lock:
            previous = self.fingerprints.get(f"{scope}#{window - 1}", [])
            return [*previous, *self.fingerprints.get(f"{scope}#{window}", [])]


class MemoryKeyService:
    """A stand-in for KMS: one master key in memory, encryption context as associated data."""

    def __init__(self, master_key: bytes | None = None) -> None:
        self._master = master_key or os.urandom(32)

    @staticmethod
    def _aad(context: dict[str, str]) -> bytes:
        return json.dumps(context, sort_keys=True).encode()

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        plaintext = os.urandom(32)
        return plaintext, self.encrypt(plaintext, context)

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        nonce = os.urandom(12)
        return b"mkms1" + nonce + AESGCM(self._master).encrypt(nonce, plaintext, self._aad(context))

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        if not blob.startswith(b"mkms1"):
            raise DecryptionFailed()
        nonce, body = blob[5:17], blob[17:]
        try:
            return AESGCM(self._master).decrypt(nonce, body, self._aad(context))
        except Exception as exc:
            raise DecryptionFailed() from exc

    def fingerprint(self) -> str:
        """A short, non-secret id of the master key (for debugging)."""
        return base64.b32encode(hashlib.sha256(self._master).digest()[:5]).decode()


@dataclass(frozen=True, slots=True)
class SentMail:
    """One message :class:`MemoryMailer` accepted."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str
    kind: str


class MemoryMailer:
    """A stand-in for SES: keeps every message in :attr:`sent`; ``fail`` makes sends raise DeliveryFailed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[SentMail] = []
        self.fail = False

    def send(self, to: str, subject: str, text: str, html: str, kind: str) -> str:
        if self.fail:
            raise DeliveryFailed()
        message = SentMail(f"mem-{os.urandom(8).hex()}", to, subject, text, html, kind)
        with self._lock:
            self.sent.append(message)
        return message.message_id


class MemoryEventPublisher:
    """A stand-in for EventBridge: keeps ``(detail_type, detail, at)`` in :attr:`events`; ``fail`` raises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, dict[str, object], datetime]] = []
        self.fail = False

    def publish(self, detail_type: str, detail: Mapping[str, object], at: datetime) -> None:
        if self.fail:
            raise DeliveryFailed()
        with self._lock:
            self.events.append((detail_type, json.loads(json.dumps(dict(detail))), at))


class MemoryIdempotencyStore(BasePersistenceLayer):
    """Powertools idempotency records in a dictionary (same semantics as its DynamoDB layer)."""

    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, DataRecord] = {}
        self._store_lock = threading.Lock()

    def _get_record(self, idempotency_key: str) -> DataRecord:
        record = self._records.get(idempotency_key)
        if record is None:
            raise IdempotencyItemNotFoundError
        return record

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self._store_lock:
            existing = self._records.get(data_record.idempotency_key)
            if existing is not None:
                expired = (existing.expiry_timestamp or 0) < now
                stale = (
                    existing.status == "INPROGRESS"
                    and existing.in_progress_expiry_timestamp is not None
                    and existing.in_progress_expiry_timestamp < now * 1000
                )
                if not (expired or stale):
                    raise IdempotencyItemAlreadyExistsError
            self._records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        with self._store_lock:
            self._records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._store_lock:
            self._records.pop(data_record.idempotency_key, None)


class MemoryFaceEngine:
    """An in-memory face engine for unit tests of the backend: images are looked up, not analysed.

    Register each test image with the vector it stands for (or the refusal code it triggers);
    fusion is the normalised mean, like the real engine. Unregistered bytes have no face.
    """

    FRONTAL = ((38.3, 51.7), (73.5, 51.5), (56.0, 71.7), (41.5, 92.4), (70.7, 92.2))
    """Landmarks of a frontal face (ArcFace's 112 px template), what unregistered landmarks default to."""

    def __init__(self, model_id: str = "memory-engine-1", dim: int = 128) -> None:
        self._model_id = model_id
        self.dim = dim
        self._faces: dict[bytes, npt.NDArray[np.float32] | str] = {}
        self._landmarks: dict[bytes, npt.NDArray[np.float32]] = {}

    @property
    def model_id(self) -> str:
        return self._model_id

    def register(
        self, image: bytes, face: npt.NDArray[np.float32] | str, landmarks: npt.ArrayLike | None = None
    ) -> None:
        """``face`` is a vector (any norm) or a refusal code such as ``"multiple_faces"``; ``landmarks`` (5, 2)
        pixels are what :meth:`observe` reports (default :attr:`FRONTAL`)."""
        self._faces[image] = face if isinstance(face, str) else np.asarray(face, dtype=np.float32)
        if landmarks is not None:
            self._landmarks[image] = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)

    def _vectors(self, images: bytes | Sequence[bytes], limit: int) -> list[npt.NDArray[np.float32]]:
        batch = [images] if isinstance(images, bytes) else list(images)
        if not 1 <= len(batch) <= limit:
            raise InvalidRequest(f"send 1 to {limit} images")
        vectors = []
        for image in batch:
            face = self._faces.get(image, "no_face")
            if isinstance(face, str):
                raise FaceRejected(f"refused: {face}", code=face)
            vectors.append(face / np.linalg.norm(face))
        return vectors

    def _fuse(self, vectors: list[npt.NDArray[np.float32]]) -> Template:
        mean = np.mean(vectors, axis=0)
        return Template(
            vector=(mean / np.linalg.norm(mean)).astype(np.float32), model_id=self._model_id, n_images=len(vectors)
        )

    def enroll_template(self, images: bytes | Sequence[bytes]) -> Template:
        return self._fuse(self._vectors(images, 5))

    def probe_template(self, frames: bytes | Sequence[bytes]) -> Template:
        return self._fuse(self._vectors(frames, 3))

    def observe(self, frames: Sequence[bytes]) -> list[tuple[Detection, FloatArray, ImageArray]]:
        """The registered vector and landmarks of each frame, and a chip of noise seeded by the frame's bytes
        (equal bytes give equal fingerprints, different bytes unrelated ones)."""
        vectors = self._vectors(list(frames), 6)
        observed = []
        for image, vector in zip(frames, vectors, strict=True):
            points = self._landmarks.get(image, np.asarray(self.FRONTAL, dtype=np.float32))
            left, top, right = float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max())
            box = Box(left - 20, top - 30, right + 20, 112.0)
            seed = int.from_bytes(hashlib.sha256(image).digest()[:8], "big")
            chip = np.random.default_rng(seed).integers(0, 256, (112, 112, 3), dtype=np.uint8)
            observed.append((Detection(box=box, landmarks=points, score=0.9), vector.astype(np.float32), chip))
        return observed


class MemoryDirectory:
    """Host users in a dictionary (see :class:`facegate.ports.Directory`); ``add_user`` seeds other users."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.users: dict[str, tuple[HostUser, frozenset[str]]] = {}
        self.passwords: dict[str, str] = {}

    def add_user(self, user: HostUser, groups: Iterable[str]) -> None:
        """Put a user of any group (``admins`` for example), keyed by ``username``."""
        with self._lock:
            self.users[user.username] = (user, frozenset(groups))

    def create_host(self, email: str, name: str, site_ids: Sequence[str], temporary_password: str) -> HostUser:
        from facegate.domain.models import utcnow

        with self._lock:
            if any(user.email.lower() == email.lower() for user, _ in self.users.values()):
                raise Conflict("a user with this e-mail exists", code="host_exists")
            sub = str(uuid.uuid4())
            now = self._clock() if self._clock is not None else utcnow()
            user = HostUser(
                username=sub, email=email, name=name, site_ids=tuple(site_ids), enabled=True, created_at=now, sub=sub
            )
            self.users[sub] = (user, frozenset({"hosts"}))
            self.passwords[sub] = temporary_password
            return user

    def list_hosts(self) -> list[HostUser]:
        with self._lock:
            hosts = [user for user, groups in self.users.values() if "hosts" in groups]
        return sorted(hosts, key=lambda user: (user.email.lower(), user.username))

    def disable_host(self, username: str) -> HostUser | None:
        with self._lock:
            found = self.users.get(username)
            if found is None or "hosts" not in found[1]:
                return None
            user = replace(found[0], enabled=False)
            self.users[username] = (user, found[1])
            return user

    def names_for(self, subs: Iterable[str]) -> dict[str, str]:
        wanted = set(subs)
        with self._lock:
            return {
                user.sub: user.name or user.email
                for user, _ in self.users.values()
                if user.sub is not None and user.sub in wanted
            }

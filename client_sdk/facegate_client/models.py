"""Typed results of the facegate API.

Every result is a frozen dataclass built from the response JSON by ``from_json``. Fields the client
does not know (added by a newer server) are kept in ``raw`` instead of failing, and ``to_dict()``
gives back the wire shape (known fields plus ``raw``). Timestamps are aware UTC datetimes. Secrets
(``unlock_key``, terminal ``secret``, invite ``token``, ``unlock_token``, ``claim_code``) are left out
of ``repr`` so they do not end up in logs by accident.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeAlias, TypeVar

from facegate_client._time import parse_rfc3339, to_rfc3339
from facegate_client.errors import UnexpectedResponseError

__all__ = [
    "AuditPage",
    "AuditRecord",
    "Challenge",
    "Consent",
    "Decision",
    "Door",
    "Enrollment",
    "ErasureReceipt",
    "Invite",
    "JsonValue",
    "Notice",
    "QualityReport",
    "Site",
    "Status",
    "Terminal",
    "TerminalRevocation",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""Any value that JSON can carry."""

_M = TypeVar("_M", bound="_Model")


def _invalid(kind: str, detail: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(None, "invalid_response", f"{kind} response: {detail}")


class _Reader:
    """Reads typed fields out of a JSON object and remembers which keys were used."""

    def __init__(self, kind: str, data: object) -> None:
        if not isinstance(data, Mapping) or not all(isinstance(key, str) for key in data):
            raise _invalid(kind, "expected a JSON object")
        self.kind = kind
        self._data: dict[str, JsonValue] = dict(data)
        self._used: set[str] = set()

    def _get(self, key: str, required: bool) -> JsonValue:
        self._used.add(key)
        if key not in self._data and required:
            raise _invalid(self.kind, f"missing field {key!r}")
        return self._data.get(key)

    def text(self, key: str) -> str:
        value = self._get(key, True)
        if not isinstance(value, str):
            raise _invalid(self.kind, f"field {key!r} must be a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _invalid(self.kind, f"field {key!r} must be a string or null")
        return value

    def flag(self, key: str) -> bool:
        """A boolean field; absent = False (servers before the field did not send it)."""
        value = self._get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _invalid(self.kind, f"field {key!r} must be true or false")
        return value

    def number(self, key: str) -> float:
        value = self.opt_number(key)
        if value is None:
            raise _invalid(self.kind, f"field {key!r} must be a number")
        return value

    def opt_number(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(self.kind, f"field {key!r} must be a number")
        return float(value)

    def integer(self, key: str) -> int:
        value = self._get(key, True)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(self.kind, f"field {key!r} must be an integer")
        return value

    def time(self, key: str) -> datetime:
        value = self.opt_time(key)
        if value is None:
            raise _invalid(self.kind, f"field {key!r} must be an RFC 3339 timestamp")
        return value

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        if text is None:
            return None
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise _invalid(self.kind, f"field {key!r} is not an RFC 3339 timestamp") from None

    def texts(self, key: str, *, required: bool = True) -> tuple[str, ...]:
        value = self._get(key, required)
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _invalid(self.kind, f"field {key!r} must be a list of strings")
        return tuple(item for item in value if isinstance(item, str))

    def value(self, key: str, *, required: bool = True) -> JsonValue:
        return self._get(key, required)

    def objects(self, key: str) -> list[Mapping[str, JsonValue]]:
        value = self._get(key, True)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise _invalid(self.kind, f"field {key!r} must be a list of objects")
        return [item for item in value if isinstance(item, dict)]

    def rest(self) -> dict[str, JsonValue]:
        """The keys no reader method asked for: fields of a newer server, kept verbatim."""
        return {key: value for key, value in self._data.items() if key not in self._used}


def _to_wire(value: object) -> Any:
    if isinstance(value, _Model):
        return value.to_dict()
    if isinstance(value, datetime):
        return to_rfc3339(value)
    if isinstance(value, tuple | list):
        return [_to_wire(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _to_wire(item) for key, item in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class _Model(abc.ABC):
    kind: ClassVar[str] = "object"

    @classmethod
    @abc.abstractmethod
    def _read(cls: type[_M], reader: _Reader) -> _M:
        """Build the model from a reader over its JSON object (each result type implements it)."""

    @classmethod
    def from_json(cls: type[_M], data: object) -> _M:
        """Build the result from decoded JSON.

        Raises:
            UnexpectedResponseError: a required field is missing or has the wrong type.
        """
        return cls._read(_Reader(cls.kind, data))

    def to_dict(self) -> dict[str, Any]:
        """The wire (JSON) shape: known fields with RFC 3339 timestamps, plus the unknown ``raw`` fields."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            if spec.name != "raw":
                out[spec.name] = _to_wire(getattr(self, spec.name))
        out.update(getattr(self, "raw", {}))
        return out


def _raw() -> Any:
    return dataclasses.field(default_factory=dict, hash=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Site(_Model):
    """A site (building) and its security level (``standard`` or ``high``).

    ``policy`` is the server's table of what the level means at this deployment: the face-only thresholds and
    expected rates per door size N and frames F, and the claim-code thresholds (cosine similarities in [-1, 1]).
    """

    kind: ClassVar[str] = "site"
    site_id: str
    name: str
    timezone: str
    security_level: str
    created_at: datetime
    policy: Mapping[str, JsonValue] = _raw()
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Site:
        policy = reader.value("policy", required=False)
        return cls(
            site_id=reader.text("site_id"),
            name=reader.text("name"),
            timezone=reader.text("timezone"),
            security_level=reader.text("security_level"),
            created_at=reader.time("created_at"),
            policy=policy if isinstance(policy, dict) else {},
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Door(_Model):
    """A door. ``unlock_key`` (base64url, 32 bytes) is returned only at creation: give it to the door controller."""

    kind: ClassVar[str] = "door"
    door_id: str
    site_id: str
    name: str
    unlock_key: str | None = dataclasses.field(default=None, repr=False)
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Door:
        return cls(
            door_id=reader.text("door_id"),
            site_id=reader.text("site_id"),
            name=reader.text("name"),
            unlock_key=reader.opt_text("unlock_key"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Terminal(_Model):
    """A door terminal. ``secret`` is shown only at creation; it signs the terminal's requests."""

    kind: ClassVar[str] = "terminal"
    terminal_id: str
    key_id: str
    site_id: str
    door_ids: tuple[str, ...]
    secret: str | None = dataclasses.field(default=None, repr=False)
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Terminal:
        return cls(
            terminal_id=reader.text("terminal_id"),
            key_id=reader.text("key_id"),
            site_id=reader.text("site_id"),
            door_ids=reader.texts("door_ids"),
            secret=reader.opt_text("secret"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class TerminalRevocation(_Model):
    """The result of revoking a terminal key; it takes effect on the terminal's next request."""

    kind: ClassVar[str] = "terminal revocation"
    terminal_id: str
    revoked_at: datetime
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> TerminalRevocation:
        return cls(terminal_id=reader.text("terminal_id"), revoked_at=reader.time("revoked_at"), raw=reader.rest())


@dataclasses.dataclass(frozen=True)
class Invite(_Model):
    """An invite. Send ``registration_url`` to the visitor; it and ``token`` are credentials (not in ``repr``)."""

    kind: ClassVar[str] = "invite"
    invite_id: str
    registration_url: str = dataclasses.field(repr=False)
    site_id: str
    door_ids: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    token: str | None = dataclasses.field(default=None, repr=False)
    email: str | None = dataclasses.field(default=None, repr=False)
    """The visitor's e-mail the invite mail went to (personal data: not in ``repr``)."""
    notify_on_arrival: bool = False
    email_sent: bool = False
    """True when the server handed the invite mail to SES."""
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Invite:
        return cls(
            invite_id=reader.text("invite_id"),
            registration_url=reader.text("registration_url"),
            site_id=reader.text("site_id"),
            door_ids=reader.texts("door_ids"),
            valid_from=reader.time("valid_from"),
            valid_until=reader.time("valid_until"),
            token=reader.opt_text("token"),
            email=reader.opt_text("email"),
            notify_on_arrival=reader.flag("notify_on_arrival"),
            email_sent=reader.flag("email_sent"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class InviteMail(_Model):
    """The invite mail was sent again: to which address, when."""

    kind: ClassVar[str] = "invite mail"
    invite_id: str
    email: str = dataclasses.field(repr=False)
    sent_at: datetime
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> InviteMail:
        return cls(
            invite_id=reader.text("invite_id"),
            email=reader.text("email"),
            sent_at=reader.time("sent_at"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Notice(_Model):
    """The privacy notice the visitor consents to (``text`` by language code: ``en``, ``ko``)."""

    kind: ClassVar[str] = "notice"
    consent_version: str
    controller: JsonValue = dataclasses.field(hash=False)
    purpose: JsonValue = dataclasses.field(hash=False)
    data_stored: JsonValue = dataclasses.field(hash=False)
    retention: JsonValue = dataclasses.field(hash=False)
    site_name: str
    valid_from: datetime
    valid_until: datetime
    rights: JsonValue = dataclasses.field(hash=False)
    text: Mapping[str, str] = dataclasses.field(hash=False)
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Notice:
        text = reader.value("text")
        if not isinstance(text, dict) or not all(isinstance(item, str) for item in text.values()):
            raise _invalid(reader.kind, "field 'text' must be an object of strings")
        return cls(
            consent_version=reader.text("consent_version"),
            controller=reader.value("controller"),
            purpose=reader.value("purpose"),
            data_stored=reader.value("data_stored"),
            retention=reader.value("retention"),
            site_name=reader.text("site_name"),
            valid_from=reader.time("valid_from"),
            valid_until=reader.time("valid_until"),
            rights=reader.value("rights"),
            text={lang: body for lang, body in text.items() if isinstance(body, str)},
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Consent(_Model):
    """A recorded consent: which notice version, and when."""

    kind: ClassVar[str] = "consent"
    consent_version: str
    accepted_at: datetime
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Consent:
        return cls(
            consent_version=reader.text("consent_version"),
            accepted_at=reader.time("accepted_at"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class QualityReport(_Model):
    """Measured quality of one enrolled face (fields are None when the server did not send them).

    Attributes:
        ok: True when the face passed every quality gate.
        face_size_px: inter-ocular distance in pixels of the uploaded image.
        box_height_px: face box height in pixels.
        sharpness: variance of the Laplacian of the face chip (higher is sharper).
        brightness: mean grey level of the face region, 0-255.
        yaw, pitch, roll: head pose in degrees (0 = frontal).
        issues: refusal codes (empty when usable); flags: non-refusing remarks.
    """

    kind: ClassVar[str] = "quality report"
    ok: bool
    face_size_px: float | None = None
    box_height_px: float | None = None
    sharpness: float | None = None
    brightness: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    issues: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> QualityReport:
        issues = reader.texts("issues", required=False)
        ok = reader.value("ok", required=False)
        return cls(
            ok=ok if isinstance(ok, bool) else not issues,
            face_size_px=reader.opt_number("face_size_px"),
            box_height_px=reader.opt_number("box_height_px"),
            sharpness=reader.opt_number("sharpness"),
            brightness=reader.opt_number("brightness"),
            yaw=reader.opt_number("yaw"),
            pitch=reader.opt_number("pitch"),
            roll=reader.opt_number("roll"),
            issues=issues,
            flags=reader.texts("flags", required=False),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Enrollment(_Model):
    """A successful enrollment. ``claim_code`` (8 characters) is the visitor's second factor at the door."""

    kind: ClassVar[str] = "enrollment"
    status: str
    quality: tuple[QualityReport, ...]
    enrolled_at: datetime
    n_images: int
    claim_code: str = dataclasses.field(repr=False)
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Enrollment:
        return cls(
            status=reader.text("status"),
            quality=tuple(QualityReport.from_json(item) for item in reader.objects("quality")),
            enrolled_at=reader.time("enrolled_at"),
            n_images=reader.integer("n_images"),
            claim_code=reader.text("claim_code"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Status(_Model):
    """A visitor's registration state: ``invited``, ``consented``, ``enrolled``, ``erased`` or ``expired``."""

    kind: ClassVar[str] = "status"
    status: str
    valid_from: datetime
    valid_until: datetime
    consent_version: str | None = None
    enrolled_at: datetime | None = None
    display_name: str | None = None
    claim_code: str | None = dataclasses.field(default=None, repr=False)
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Status:
        return cls(
            status=reader.text("status"),
            valid_from=reader.time("valid_from"),
            valid_until=reader.time("valid_until"),
            consent_version=reader.opt_text("consent_version"),
            enrolled_at=reader.opt_time("enrolled_at"),
            display_name=reader.opt_text("display_name"),
            claim_code=reader.opt_text("claim_code"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Challenge(_Model):
    """A head-turn challenge for the person at a door (``POST /doors/{door_id}/challenge``).

    Show the steps in order (the first is ``straight``; ``left``/``right`` are the visitor's own, so a mirrored
    preview shows the arrow on the same side), take 1 or 2 frames of each step, and send them all, in step order,
    with :meth:`TerminalClient.verify` ``(challenge=...)`` before ``expires_at``. A challenge is accepted once.

    Attributes:
        challenge_id: the id to send back (signed, ``X-Facegate-Challenge``).
        steps: ``straight``, ``left``, ``right``, ``up`` or ``down``, in order.
        expires_at: the verify request must arrive before this (about 10 s after issue).
    """

    kind: ClassVar[str] = "challenge"
    challenge_id: str
    steps: tuple[str, ...]
    expires_at: datetime
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> Challenge:
        return cls(
            challenge_id=reader.text("challenge_id"),
            steps=reader.texts("steps"),
            expires_at=reader.time("expires_at"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class Decision(_Model):
    """A door decision, as the door may be told it: grant or deny and what to do next.

    The answer is not an oracle: it carries no similarity, threshold or reason (those go to the audit
    log only), so a terminal key in the wrong hands cannot hill-climb with photos or learn who is expected.

    Attributes:
        decision: ``grant`` or ``deny``.
        decision_id: audit id of the decision (the unlock token's ``sub``).
        unlock_token: HS256 JWT for the door controller, present on ``grant`` (valid ≤ 10 s).
        next: what the person at the door should do: None on ``grant``; on ``deny`` one of ``show_code``
            (show the claim code: QR or 8 characters; face alone is not enough here), ``retry`` (look at the
            camera and try again) or ``see_reception``.
        hint: advice about the frames themselves on some denies, else None: ``lower_mask`` (the lower face
            looks covered: ask the person to lower their mask). Unknown future values can be ignored.
    """

    kind: ClassVar[str] = "decision"
    decision: str
    decision_id: str
    unlock_token: str | None = dataclasses.field(default=None, repr=False)
    next: str | None = None
    hint: str | None = None
    raw: Mapping[str, JsonValue] = _raw()

    @property
    def granted(self) -> bool:
        """True when the door may open."""
        return self.decision == "grant"

    @classmethod
    def _read(cls, reader: _Reader) -> Decision:
        return cls(
            decision=reader.text("decision"),
            decision_id=reader.text("decision_id"),
            unlock_token=reader.opt_text("unlock_token"),
            next=reader.opt_text("next"),
            hint=reader.opt_text("hint"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class ErasureReceipt(_Model):
    """Proof of erasure: when, and which items were deleted (``invite_id`` is set for admin erasure)."""

    kind: ClassVar[str] = "erasure receipt"
    erased_at: datetime
    items: JsonValue = dataclasses.field(hash=False)
    invite_id: str | None = None
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> ErasureReceipt:
        return cls(
            erased_at=reader.time("erased_at"),
            items=reader.value("items"),
            invite_id=reader.opt_text("invite_id"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class AuditRecord(_Model):
    """One audit-log entry (docs/api.md *Audit records*); every field is optional, unknown ones are in ``raw``.

    Attributes:
        at: when it happened (UTC). similarity/threshold: cosine similarity in [-1, 1].
        latency_ms: server-side processing time in milliseconds.
    """

    kind: ClassVar[str] = "audit record"
    event_id: str | None = None
    event: str | None = None
    at: datetime | None = None
    actor: str | None = None
    decision: str | None = None
    reason: str | None = None
    mode: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    door_id: str | None = None
    terminal_id: str | None = None
    visitor_id: str | None = None
    model_id: str | None = None
    latency_ms: float | None = None
    raw: Mapping[str, JsonValue] = _raw()

    def get(self, name: str, default: JsonValue = None) -> JsonValue:
        """A field by its wire name, known or not (``default`` when absent)."""
        return self.to_dict().get(name, default)

    @classmethod
    def _read(cls, reader: _Reader) -> AuditRecord:
        return cls(
            event_id=reader.opt_text("event_id"),
            event=reader.opt_text("event"),
            at=reader.opt_time("at"),
            actor=reader.opt_text("actor"),
            decision=reader.opt_text("decision"),
            reason=reader.opt_text("reason"),
            mode=reader.opt_text("mode"),
            similarity=reader.opt_number("similarity"),
            threshold=reader.opt_number("threshold"),
            door_id=reader.opt_text("door_id"),
            terminal_id=reader.opt_text("terminal_id"),
            visitor_id=reader.opt_text("visitor_id"),
            model_id=reader.opt_text("model_id"),
            latency_ms=reader.opt_number("latency_ms"),
            raw=reader.rest(),
        )


@dataclasses.dataclass(frozen=True)
class AuditPage(_Model):
    """One page of the audit log; ``next_token`` is None on the last page."""

    kind: ClassVar[str] = "audit page"
    items: tuple[AuditRecord, ...]
    next_token: str | None = None
    raw: Mapping[str, JsonValue] = _raw()

    @classmethod
    def _read(cls, reader: _Reader) -> AuditPage:
        return cls(
            items=tuple(AuditRecord.from_json(item) for item in reader.objects("items")),
            next_token=reader.opt_text("next_token"),
            raw=reader.rest(),
        )

"""Typed results of the facegate API.

Every result is a frozen dataclass built from the response JSON by ``from_json``. Fields the client
does not know (added by a newer server) are kept in ``raw`` instead of failing, and ``to_dict()``
gives back the wire shape (known fields plus ``raw``). Timestamps are aware UTC datetimes. Secrets
(``unlock_key``, terminal ``secret``, invite ``token``, ``unlock_token``, ``claim_code``) are left out
of ``repr`` so they do not end up in logs by accident.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar

from facegate_client._time import parse_rfc3339, to_rfc3339
from facegate_client.errors import UnexpectedResponseError

__all__ = [
    "AuditPage",
    "AuditRecord",
    "Challenge",
    "Consent",
    "Decision",
    "Door",
    "DoorPage",
    "DoorSummary",
    "Enrollment",
    "ErasureReceipt",
    "Host",
    "HostPage",
    "Invite",
    "InviteDetail",
    "InviteMail",
    "InvitePage",
    "InviteSummary",
    "JsonValue",
    "Me",
    "NewHost",
    "Notice",
    "PairedTerminal",
    "Pairing",
    "QualityReport",
    "Site",
    "SitePage",
    "SiteSummary",
    "Status",
    "Terminal",
    "TerminalPage",
    "TerminalRevocation",
    "TerminalSummary",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""Any value that JSON can carry."""

if TYPE_CHECKING:
    from typing import dataclass_transform
else:  # Python < 3.11 has none; it only tells type checkers that every _Model subclass is a frozen dataclass.

    def dataclass_transform(**_: Any) -> Any:
        return lambda target: target


_M = TypeVar("_M", bound="_Model")
_I = TypeVar("_I")


def _invalid(kind: str, detail: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(None, "invalid_response", f"{kind} response: {detail}")


@functools.lru_cache(maxsize=1)
def _components() -> Mapping[str, Any]:
    """The component schemas of the API document shipped with the SDK (``openapi.json``, read once)."""
    document = json.loads(resources.files("facegate_client").joinpath("openapi.json").read_text(encoding="utf-8"))
    schemas: Mapping[str, Any] = document["components"]["schemas"]
    return schemas


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _fits(schema: Mapping[str, Any], value: object) -> bool:
    """True when ``value`` has the JSON type ``schema`` names (any value where it names none)."""
    if "$ref" in schema:
        return isinstance(value, dict)
    if "anyOf" in schema:
        return any(_fits(branch, value) for branch in schema["anyOf"])
    kind = schema.get("type")
    if kind is None:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[kind])


class _Reading:
    """Reads one JSON object by its component schema into a model's field values."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def value(self, key: str, schema: Mapping[str, Any], value: object, as_tuple: bool) -> Any:
        """``value`` checked against ``schema``: RFC 3339 texts to datetimes, numbers to float, objects of a
        model's schema to the model, arrays to tuples where the field is a tuple."""
        if not _fits(schema, value):
            wanted = schema.get("type") or " or ".join(b.get("type", "object") for b in schema.get("anyOf", ()))
            raise _invalid(self.kind, f"field {key!r} must be {wanted}")
        if value is None:
            return None
        for branch in schema.get("anyOf", ()):
            if branch.get("type") != "null" and _fits(branch, value):
                return self.value(key, branch, value, as_tuple)
        if "$ref" in schema:
            model = _MODELS.get(schema["$ref"].rsplit("/", 1)[-1])
            return value if model is None else model.from_json(value)
        if schema.get("format") == "date-time":
            try:
                return parse_rfc3339(str(value))
            except ValueError:
                raise _invalid(self.kind, f"field {key!r} is not an RFC 3339 timestamp") from None
        if schema.get("type") == "number":
            return float(value)  # type: ignore[arg-type]
        if isinstance(value, list):
            items = [self.value(key, schema.get("items", {}), item, False) for item in value]
            return tuple(items) if as_tuple else items
        if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
            extra = schema["additionalProperties"]
            return {name: self.value(f"{key}.{name}", extra, item, False) for name, item in value.items()}
        return value


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


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
@dataclasses.dataclass(frozen=True)
class _Model:
    """A result type, a frozen dataclass (every subclass is made one): its fields are properties of the component
    schema of ``openapi.json`` that a subclass names as a class argument (``class Door(_Model, schema="DoorOut")``);
    ``kind``, the name error messages use, is the class name in words unless given (``kind="invite"``)."""

    kind: ClassVar[str] = "object"
    schema: ClassVar[str] = ""
    raw: Mapping[str, JsonValue] = dataclasses.field(
        default_factory=dict, repr=False, hash=False, compare=False, kw_only=True
    )
    """The fields of the response the SDK does not know (a newer server's), as sent."""

    def __init_subclass__(cls, *, schema: str = "", kind: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, repr=False)(cls)
        if schema:
            cls.schema = schema
            cls.kind = kind or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", cls.__name__).lower()
            _MODELS[schema] = cls

    @classmethod
    def _complete(cls, values: dict[str, Any]) -> None:
        """Fill in values an older server may leave out (a model overrides it where one follows from others)."""

    @classmethod
    def from_json(cls: type[_M], data: object) -> _M:
        """Build the result from decoded JSON, checked against its component schema; keys the SDK does not
        know (a newer server's) are kept in ``raw``.

        Raises:
            UnexpectedResponseError: a required field is missing or a field has the wrong type.
        """
        if not isinstance(data, Mapping) or not all(isinstance(key, str) for key in data):
            raise _invalid(cls.kind, "expected a JSON object")
        properties: Mapping[str, Any] = _components()[cls.schema].get("properties", {})
        reading = _Reading(cls.kind)
        known = {spec.name: spec for spec in dataclasses.fields(cls) if spec.name != "raw"}
        values: dict[str, Any] = {}
        for name, spec in known.items():
            if name in data:
                # A field the SDK declares as any JSON value is kept as the server sent it.
                schema = {} if spec.type == "JsonValue" else properties.get(name, {})
                values[name] = reading.value(name, schema, data[name], str(spec.type).startswith("tuple["))
        cls._complete(values)
        for name, spec in known.items():
            if values.get(name) is None:
                if _required(spec):
                    raise _invalid(cls.kind, f"missing field {name!r}")
                values.pop(name, None)  # null or absent: the field's default
        raw = {key: value for key, value in data.items() if key not in known}
        return cls(**values, raw=raw)

    def __repr__(self) -> str:
        """The fields shown in ``repr`` (secrets are not), then ``raw``."""
        shown = [f"{spec.name}={getattr(self, spec.name)!r}" for spec in dataclasses.fields(self) if spec.repr]
        return f"{type(self).__qualname__}({', '.join([*shown, f'raw={self.raw!r}'])})"

    def to_dict(self) -> dict[str, Any]:
        """The wire (JSON) shape: known fields with RFC 3339 timestamps, plus the unknown ``raw`` fields."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            if spec.name != "raw":
                out[spec.name] = _to_wire(getattr(self, spec.name))
        out.update(getattr(self, "raw", {}))
        return out


_MODELS: dict[str, type[_Model]] = {}
"""Component schema name -> the result type that reads it."""


def _required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _raw() -> Any:
    return dataclasses.field(default_factory=dict, hash=False, compare=False)


class _Page(_Model, Generic[_I]):
    """One page of a listing (``items``, oldest or newest first as the listing says); ``next_token`` is None on
    the last page, else the ``next_token`` argument that fetches the next."""

    items: tuple[_I, ...]
    next_token: str | None = None


class SiteSummary(_Model, schema="SiteSummary"):
    """A site as listed (``GET /sites``)."""

    site_id: str
    name: str
    timezone: str
    security_level: str
    created_at: datetime
    retired_at: datetime | None = None
    """Set once an admin retired the site (it takes no new doors, terminals or invites; its doors refuse)."""


class Site(SiteSummary, schema="SiteOut"):
    """A site (building) and its security level (``standard`` or ``high``).

    ``policy`` is the server's table of what the level means at this deployment: the face-only thresholds and
    expected rates per door size N and frames F, and the claim-code thresholds (cosine similarities in [-1, 1]).
    """

    policy: Mapping[str, JsonValue] = _raw()
    accept_terminal_liveness: bool = False
    """The signed liveness verdict of terminals registered with ``attests_liveness`` replaces the head-turn
    challenge at this site."""


class _DoorBase(_Model):
    """What the creation and the listing of a door share."""

    door_id: str
    site_id: str
    name: str


class Door(_DoorBase, schema="DoorOut"):
    """A door. ``unlock_key`` (base64url, 32 bytes) is returned only at creation: give it to the door controller."""

    unlock_key: str | None = dataclasses.field(default=None, repr=False)


class _TerminalBase(_Model):
    """What every view of a terminal holds: its id, its current key id and its doors."""

    terminal_id: str
    key_id: str
    door_ids: tuple[str, ...]


class Terminal(_TerminalBase, schema="TerminalOut"):
    """A door terminal. ``secret`` is shown only at creation; it signs the terminal's requests."""

    site_id: str
    secret: str | None = dataclasses.field(default=None, repr=False)
    attests_liveness: bool = False
    """Registered as having its own presentation-attack detection (sends ``X-Facegate-Liveness``)."""


class TerminalRevocation(_Model, schema="RevokedTerminalOut"):
    """The result of revoking a terminal key; it takes effect on the terminal's next request."""

    terminal_id: str
    revoked_at: datetime


class _Window(_Model):
    """The invite's validity window (aware UTC datetimes), which every view of an invite and its visitor shows."""

    valid_from: datetime
    valid_until: datetime


class Invite(_Window, schema="InviteOut"):
    """An invite. Send ``registration_url`` to the visitor; it and ``token`` are credentials (not in ``repr``)."""

    invite_id: str
    registration_url: str = dataclasses.field(repr=False)
    site_id: str
    door_ids: tuple[str, ...]
    token: str | None = dataclasses.field(default=None, repr=False)
    email: str | None = dataclasses.field(default=None, repr=False)
    """The visitor's e-mail the invite mail went to (personal data: not in ``repr``)."""
    notify_on_arrival: bool = False
    email_sent: bool = False
    """True when the server handed the invite mail to SES."""


class InviteMail(_Model, schema="InviteMailOut"):
    """The invite mail was sent again: to which address, when."""

    invite_id: str
    email: str = dataclasses.field(repr=False)
    sent_at: datetime


class Notice(_Window, schema="NoticeOut"):
    """The privacy notice the visitor consents to (``text`` by language code: ``en``, ``ko``)."""

    consent_version: str
    controller: JsonValue = dataclasses.field(hash=False)
    purpose: JsonValue = dataclasses.field(hash=False)
    data_stored: JsonValue = dataclasses.field(hash=False)
    retention: JsonValue = dataclasses.field(hash=False)
    site_name: str
    rights: JsonValue = dataclasses.field(hash=False)
    text: Mapping[str, str] = dataclasses.field(hash=False)


class Consent(_Model, schema="ConsentOut"):
    """A recorded consent: which notice version, and when."""

    consent_version: str
    accepted_at: datetime


class QualityReport(_Model, schema="QualityOut"):
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

    @classmethod
    def _complete(cls, values: dict[str, Any]) -> None:
        if not isinstance(values.get("ok"), bool):
            values["ok"] = not values.get("issues")


class Enrollment(_Model, schema="EnrollmentOut"):
    """A successful enrollment. ``claim_code`` (8 characters) is the visitor's second factor at the door."""

    status: str
    quality: tuple[QualityReport, ...]
    enrolled_at: datetime
    n_images: int
    claim_code: str = dataclasses.field(repr=False)


class Status(_Window, schema="StatusOut"):
    """A visitor's registration state: ``invited``, ``consented``, ``enrolled``, ``erased`` or ``expired``."""

    status: str
    consent_version: str | None = None
    enrolled_at: datetime | None = None
    display_name: str | None = None
    claim_code: str | None = dataclasses.field(default=None, repr=False)


class Challenge(_Model, schema="ChallengeOut"):
    """A head-turn challenge for the person at a door (``POST /doors/{door_id}/challenge``).

    Show the steps in order (the first is ``straight``; ``left``/``right`` are the visitor's own, so a mirrored
    preview shows the arrow on the same side), take 1 or 2 frames of each step, and send them all, in step order,
    with :meth:`TerminalClient.verify` ``(challenge=...)`` before ``expires_at``. A challenge is accepted once.

    Attributes:
        challenge_id: the id to send back (signed, ``X-Facegate-Challenge``).
        steps: ``straight``, ``left``, ``right``, ``up`` or ``down``, in order.
        expires_at: the verify request must arrive before this (about 10 s after issue).
    """

    challenge_id: str
    steps: tuple[str, ...]
    expires_at: datetime


class Decision(_Model, schema="DecisionOut"):
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

    decision: str
    decision_id: str
    unlock_token: str | None = dataclasses.field(default=None, repr=False)
    next: str | None = None
    hint: str | None = None

    @property
    def granted(self) -> bool:
        """True when the door may open."""
        return self.decision == "grant"


class ErasureReceipt(_Model, schema="ErasureOut"):
    """Proof of erasure: when, and which items were deleted (``invite_id`` is set for admin erasure)."""

    erased_at: datetime
    items: JsonValue = dataclasses.field(hash=False)
    invite_id: str | None = None


class AuditRecord(_Model, schema="AuditItem"):
    """One audit-log entry (docs/api.md *Audit records*); every field is optional, unknown ones are in ``raw``.

    Attributes:
        at: when it happened (UTC). similarity/threshold: cosine similarity in [-1, 1].
        latency_ms: server-side processing time in milliseconds.
    """

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
    actor_name: str | None = None
    """The actor's name where the server knows it (a user's name or e-mail, a terminal's name)."""

    def get(self, name: str, default: JsonValue = None) -> JsonValue:
        """A field by its wire name, known or not (``default`` when absent)."""
        return self.to_dict().get(name, default)


# --- the console (issue 14) ---------------------------------------------------------------------------


class Me(_Model, schema="MeOut"):
    """Who a token belongs to: ``role`` ``admin`` (``site_ids`` None: every site) or ``host`` (their sites)."""

    sub: str
    groups: tuple[str, ...]
    role: str
    site_ids: tuple[str, ...] | None = None
    email: str | None = None
    name: str | None = None


class DoorSummary(_DoorBase, schema="DoorSummary"):
    """A door as listed (never its unlock key)."""

    created_at: datetime
    retired_at: datetime | None = None


class TerminalSummary(_TerminalBase, schema="TerminalSummary"):
    """A terminal as listed: its current key id, never a secret; ``paired_at`` when a kiosk last paired."""

    site_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    paired_at: datetime | None = None


class Pairing(_Model, schema="PairingOut"):
    """A one-time kiosk pairing code (<= 10 minutes); ``pairing_url`` (``<origin>/kiosk?pair=<code>``) is for a
    QR code. Both are credentials until used: not in ``repr``."""

    pairing_code: str = dataclasses.field(repr=False)
    pairing_url: str = dataclasses.field(repr=False)
    expires_at: datetime


class PairedTerminal(_TerminalBase, schema="PairOut"):
    """What a kiosk receives for its pairing code, once: its terminal's fresh key id and secret, its doors and
    the API URL to send requests to (any earlier key of the terminal stopped working)."""

    secret: str = dataclasses.field(repr=False)
    api_url: str


class InviteSummary(_Window, schema="InviteSummary"):
    """An invite as the console lists it: ``status`` is ``invited``, ``consented``, ``enrolled``, ``arrived``
    (granted at a door at least once, at ``arrived_at``), ``expired`` or ``erased``."""

    invite_id: str
    site_id: str
    door_ids: tuple[str, ...]
    created_at: datetime
    created_by: str
    status: str
    display_name: str | None = None
    email: str | None = dataclasses.field(default=None, repr=False)
    created_by_name: str | None = None
    arrived_at: datetime | None = None


class InviteDetail(InviteSummary, schema="InviteDetail", kind="invite"):
    """One invite with its registration link (None once erased, or for invites made before links were kept)."""

    registration_url: str | None = dataclasses.field(default=None, repr=False)


class _HostUser(_Model):
    """What the listing and the creation of a host user share."""

    username: str
    """The user's name in the user pool: what :meth:`AdminClient.disable_host` takes."""
    email: str
    name: str
    site_ids: tuple[str, ...]
    enabled: bool


class Host(_HostUser, schema="HostOut"):
    """A host user (group ``hosts``) and the sites they may invite to."""

    created_at: datetime


class NewHost(_HostUser, schema="NewHostOut"):
    """A host user just created; ``temporary_password`` is shown once (changed at first sign-in)."""

    temporary_password: str = dataclasses.field(repr=False)


# The pages of the listings (``_Page``): one class each, so that annotations and isinstance can name them.
class AuditPage(_Page[AuditRecord], schema="AuditPage"): ...


class SitePage(_Page[SiteSummary], schema="SitePage"): ...


class DoorPage(_Page[DoorSummary], schema="DoorPage"): ...


class TerminalPage(_Page[TerminalSummary], schema="TerminalPage"): ...


class InvitePage(_Page[InviteSummary], schema="InvitePage"): ...


class HostPage(_Page[Host], schema="HostPage"): ...

"""What every use case receives: the ports, the settings, a clock, and who is calling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from facegate.domain.models import utcnow
from facegate.domain.policy import DoorPolicy, shipped_calibration
from facegate.errors import Forbidden
from facegate.ports import (
    AuditLog,
    Directory,
    Ephemeral,
    EventPublisher,
    FaceEnginePort,
    KeyService,
    Mailer,
    Repository,
)
from facegate.settings import Settings
from facegate.usecases.candidates import CandidateCache
from facegate.usecases.keys import KeyCache

ADMINS = "admins"
HOSTS = "hosts"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated admin or host (from the Cognito JWT claims).

    Attributes:
        subject: the user's stable id (``sub``), used in audit records.
        groups: Cognito groups (``admins``, ``hosts``).
        site_ids: sites a host may act on (``custom:site_ids``); admins act on every site.
    """

    subject: str
    groups: frozenset[str]
    site_ids: frozenset[str] = frozenset()
    email: str | None = None
    """The user's e-mail (the token's ``email`` claim), where arrival notices of their invites go."""
    name: str | None = None
    """The user's display name (the token's ``name`` claim), how invite mail names the host."""

    @property
    def is_admin(self) -> bool:
        return ADMINS in self.groups

    def require_admin(self) -> None:
        """Raises Forbidden unless the caller is an admin."""
        if not self.is_admin:
            raise Forbidden("this action needs an administrator", code="forbidden")

    def may_host(self, site_id: str) -> bool:
        """True when the caller is an admin, or a host of ``site_id``."""
        return self.is_admin or (HOSTS in self.groups and site_id in self.site_ids)

    def require_host_or_admin(self) -> None:
        """Raises Forbidden unless the caller is an admin or a host (of any site)."""
        if not (self.is_admin or HOSTS in self.groups):
            raise Forbidden("this action needs a host or an administrator", code="forbidden")

    def require_host_of(self, site_id: str) -> None:
        """Raises Forbidden unless the caller is an admin, or a host of ``site_id``."""
        if self.is_admin:
            return
        if HOSTS not in self.groups:
            raise Forbidden("this action needs a host or an administrator", code="forbidden")
        if site_id not in self.site_ids:
            raise Forbidden("you are not a host of this site", code="site_not_allowed")


@dataclass(slots=True)
class Services:
    """The composition root's product: everything a use case may touch.

    ``engine`` is a zero-argument factory so functions that never touch faces never load models.
    """

    settings: Settings
    repo: Repository
    audit: AuditLog
    ephemeral: Ephemeral
    keys: KeyService
    engine: Callable[[], FaceEnginePort]
    idempotency: BasePersistenceLayer
    clock: Callable[[], datetime] = utcnow
    policy: DoorPolicy | None = None
    """The door policy; None = built on first use from the shipped calibration."""
    mailer: Mailer | None = None
    """Sends invite and arrival mail; None = no sender configured (``mail_from`` unset): nothing is mailed."""
    events: EventPublisher | None = None
    """Publishes door decisions; None = no event bus configured (``event_bus_name`` unset)."""
    directory: Directory | None = None
    """Host users and user names (Cognito); None = no user pool configured (``user_pool_id`` unset)."""
    key_cache: KeyCache = field(init=False)
    candidates: CandidateCache = field(init=False)

    def __post_init__(self) -> None:
        self.key_cache = KeyCache(self.keys)
        self.candidates = CandidateCache()

    def door_policy(self) -> DoorPolicy:
        """The door policy (the shipped calibration is read once, on first use, never at import)."""
        if self.policy is None:
            self.policy = DoorPolicy(shipped_calibration(), margin=self.settings.match_margin)
        return self.policy

"""Host users (admins): create a host scoped to sites, list hosts, disable a host."""

from __future__ import annotations

import re
import secrets
import string

from facegate.domain.models import AuditKind, HostUser
from facegate.errors import InvalidRequest, NotFound, ServiceUnavailable
from facegate.ports import Directory
from facegate.usecases.audit import record_event
from facegate.usecases.console import Page, paginate
from facegate.usecases.context import Principal, Services

MAX_SITES_PER_HOST = 50
SITE_IDS_MAX_CHARS = 2048
"""``custom:site_ids`` holds at most this many characters (template.yaml's user pool schema)."""
PASSWORD_LENGTH = 16
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


def directory_of(services: Services) -> Directory:
    """The user directory, or 503 ``directory_unavailable`` when none is configured."""
    if services.directory is None:
        raise ServiceUnavailable("no user directory is configured", code="directory_unavailable")
    return services.directory


def temporary_password() -> str:
    """A random temporary password meeting the pool's policy (>= 12 characters, upper, lower and digits)."""
    pools = (string.ascii_uppercase, string.ascii_lowercase, string.digits)
    alphabet = "".join(pools)
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def create_host(
    services: Services, actor: Principal, email: str, name: str, site_ids: list[str]
) -> tuple[HostUser, str]:
    """Create a host user of active sites ``site_ids`` (admins); returns the user and the temporary password
    (shown once; the host sets a new one at first sign-in). Audited on each of the sites.

    Raises:
        InvalidRequest: ``invalid_email``; ``unknown_site`` (unknown or retired site); too many sites.
        Conflict: ``host_exists``.
        ServiceUnavailable: ``directory_unavailable``.
    """
    actor.require_admin()
    directory = directory_of(services)
    if not _EMAIL.fullmatch(email):
        raise InvalidRequest("email is not a valid e-mail address", code="invalid_email")
    unique = list(dict.fromkeys(site_ids))
    if not 1 <= len(unique) <= MAX_SITES_PER_HOST or len(",".join(unique)) > SITE_IDS_MAX_CHARS:
        raise InvalidRequest(f"site_ids must list 1 to {MAX_SITES_PER_HOST} sites", code="invalid_request")
    for site_id in unique:
        site = services.repo.get_site(site_id)
        if site is None or site.retired_at is not None:
            raise InvalidRequest(f"unknown or retired site: {site_id}", code="unknown_site")
    password = temporary_password()
    user = directory.create_host(email, name, unique, password)
    for site_id in unique:
        record_event(services, site_id, AuditKind.HOST_CREATED, actor.subject, details={"host": user.username})
    return user, password


def list_hosts(services: Services, actor: Principal, limit: int, cursor: str | None) -> Page[HostUser]:
    """Every host user, by e-mail (admins)."""
    actor.require_admin()
    hosts = directory_of(services).list_hosts()
    return paginate(hosts, lambda h: f"{h.email.lower()}#{h.username}", max(1, min(limit, 100)), cursor)


def disable_host(services: Services, actor: Principal, username: str) -> HostUser:
    """Disable a host user (admins): sign-in is refused from now on; ID tokens already issued expire within
    their lifetime (60 minutes). Audited on each of the host's sites that exists.

    Raises:
        NotFound: no host of that name.
    """
    actor.require_admin()
    user = directory_of(services).disable_host(username)
    if user is None:
        raise NotFound("host not found")
    for site_id in user.site_ids:
        if services.repo.get_site(site_id) is not None:
            record_event(services, site_id, AuditKind.HOST_DISABLED, actor.subject, details={"host": user.username})
    return user

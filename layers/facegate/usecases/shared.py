"""Helpers every use case shares: a site that must exist, its data key, the claim-code sub-key."""

from __future__ import annotations

from facegate.domain.models import Site
from facegate.errors import NotFound
from facegate.security import envelope
from facegate.usecases.context import Services
from facegate.usecases.keys import site_context


def require_site(services: Services, site_id: str) -> Site:
    """The site, or NotFound."""
    site = services.repo.get_site(site_id)
    if site is None:
        raise NotFound("site not found")
    return site


def site_data_key(services: Services, site: Site) -> bytes:
    """The site's AES-256 data key (KMS once per warm instance and blob, then the key cache)."""
    return services.key_cache.decrypt(site.data_key_blob, site_context(site.site_id))


def claim_key(data_key: bytes) -> bytes:
    """The sub-key under which claim codes are hashed for lookup."""
    return envelope.derive_key(data_key, "claim-code")

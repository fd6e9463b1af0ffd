"""Warm-instance cache of each site's decrypted candidate matrix.

Each request revalidates with one cheap read of the site's template version (bumped on every
enrollment and erasure); only a changed version reloads and decrypts the site's templates.
Plaintext vectors live only in this process's memory.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from facegate.domain.matching import Candidate, CandidateSet
from facegate.domain.models import Site
from facegate.errors import NotFound
from facegate.ports import Repository
from facegate.security import envelope
from facegate.usecases.keys import KeyCache, site_context

LOG = logging.getLogger("facegate.candidates")


class CandidateCache:
    """Site id -> :class:`CandidateSet`, revalidated per request against the template version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, CandidateSet] = {}
        self.loads = 0
        """How many times a set was (re)built: observable by tests and benchmarks."""

    def get(self, repo: Repository, keys: KeyCache, site_id: str) -> CandidateSet:
        """The current candidates of ``site_id``: one read of the site (its template version), a reload
        of the templates only when the version changed."""
        site = repo.get_site(site_id)
        if site is None:
            raise NotFound("site not found")
        return self.for_site(repo, keys, site)

    def for_site(self, repo: Repository, keys: KeyCache, site: Site) -> CandidateSet:
        """The candidates of ``site`` as just read (``site.template_version`` is the revalidation)."""
        site_id = site.site_id
        cached = self._sets.get(site_id)
        if cached is not None and cached.version == site.template_version:
            return cached
        version = site.template_version
        data_key = keys.decrypt(site.data_key_blob, site_context(site_id))
        rows = []
        unreadable = 0
        for stored in repo.list_candidates(site_id):
            try:
                plain = envelope.open_sealed(
                    data_key, stored.ciphertext, envelope.template_aad(site_id, stored.visitor_id, stored.model_id)
                )
            except envelope.DecryptionFailed:
                unreadable += 1
                continue
            rows.append(Candidate(vector=np.frombuffer(plain, dtype="<f4").astype(np.float32), **stored.eligibility()))
        if unreadable:
            LOG.error(
                "templates that do not decrypt were left out of the candidates",
                extra={"site_id": site_id, "unreadable_templates": unreadable, "template_version": version},
            )
        candidates = CandidateSet.build(version, rows)
        with self._lock:
            self._sets[site_id] = candidates
            self.loads += 1
        return candidates

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()

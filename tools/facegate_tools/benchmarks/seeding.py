"""Synthetic visitors for benchmarks: random unit vectors stored exactly like enrolled templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np


def seed_synthetic(services: Any, site_id: str, door_id: str, count: int, model_id: str, seed: int = 7) -> None:
    """Write ``count`` synthetic visitors (random unit vectors) into the templates store, encrypted with
    the site's data key and bound to site, visitor and model exactly like an enrollment. The site's
    template version is not bumped here: the real enrollments that follow bump it (or the caller does)."""
    from facegate.adapters.dynamodb import AwsClients, template_item_of
    from facegate.adapters.memory import MemoryRepository
    from facegate.domain.models import StoredTemplate
    from facegate.security import envelope, tokens
    from facegate.usecases.keys import site_context
    from facegate.usecases.shared import claim_key

    site = services.repo.get_site(site_id)
    if site is None:
        raise RuntimeError(f"site {site_id} not found in the stack's tables")
    data_key = services.key_cache.decrypt(site.data_key_blob, site_context(site_id))
    claims = claim_key(data_key)
    in_memory = isinstance(services.repo, MemoryRepository)
    dynamodb = None if in_memory else AwsClients.from_settings(services.settings).dynamodb
    now = datetime.now(UTC)
    expires = int((now + timedelta(days=2)).timestamp())
    vectors = np.random.default_rng(seed).normal(size=(count, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    batch: list[dict[str, Any]] = []
    for number, vector in enumerate(vectors):
        visitor_id = f"inv_loadsynth{number:06d}"
        stored = StoredTemplate(
            site_id=site_id,
            visitor_id=visitor_id,
            ciphertext=envelope.seal(
                data_key, vector.astype("<f4").tobytes(), envelope.template_aad(site_id, visitor_id, model_id)
            ),
            model_id=model_id,
            n_images=3,
            door_ids=(door_id,),
            valid_from=now - timedelta(minutes=5),
            valid_until=now + timedelta(days=1),
            claim_hash=tokens.claim_hash(claims, tokens.new_claim_code()),
            enrolled_at=now,
        )
        if in_memory:
            services.repo.templates[(site_id, visitor_id)] = stored
            continue
        batch.append({"PutRequest": {"Item": template_item_of(stored, expires)}})
        if len(batch) == 25 or number == count - 1:
            pending: dict[str, Any] = {services.settings.templates_table: batch}
            while pending and dynamodb is not None:
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            batch = []

"""Closed-set matching: the scores the door policy decides on, as pure functions over a candidate matrix.

A site's enrolled visitors form a :class:`CandidateSet` (decrypted, in function memory only).
A decision considers only the rows whose invite covers this door at this instant and whose
template was made by the probe's model; everyone else is invisible to the matcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from facegate.domain.models import Eligible

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate(Eligible):
    """One enrolled visitor as the matcher sees it (plaintext vector, unit L2 norm)."""

    vector: Vector


@dataclass(slots=True)
class CandidateSet:
    """All enrolled visitors of one site at one template version, as a matrix.

    Attributes:
        version: the site's template version this set was built from.
        matrix: float32 (n, d), one unit-norm row per visitor.
    """

    version: int
    visitor_ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]
    model_ids: npt.NDArray[np.str_]
    valid_from: npt.NDArray[np.float64]
    valid_until: npt.NDArray[np.float64]
    door_ids: tuple[frozenset[str], ...]
    claim_index: dict[str, int]
    template_images: npt.NDArray[np.int_]
    _door_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    _model_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(cls, version: int, candidates: Sequence[Candidate], dim: int = 128) -> CandidateSet:
        """Stack ``candidates`` into a matrix (n x dim float32)."""
        matrix = np.zeros((len(candidates), dim), dtype=np.float32)
        for row, candidate in enumerate(candidates):
            if candidate.vector.shape == (dim,):
                matrix[row] = candidate.vector  # another model's vector of another size stays zero (never compared)
        return cls(
            version=version,
            visitor_ids=tuple(c.visitor_id for c in candidates),
            matrix=matrix,
            model_ids=np.array([c.model_id for c in candidates], dtype=np.str_),
            valid_from=np.array([c.valid_from.timestamp() for c in candidates], dtype=np.float64),
            valid_until=np.array([c.valid_until.timestamp() for c in candidates], dtype=np.float64),
            door_ids=tuple(frozenset(c.door_ids) for c in candidates),
            claim_index={c.claim_hash: row for row, c in enumerate(candidates)},
            template_images=np.array([c.n_images for c in candidates], dtype=np.int_),
        )

    def __len__(self) -> int:
        return len(self.visitor_ids)

    def door_mask(self, door_id: str) -> npt.NDArray[np.bool_]:
        """Boolean mask of the rows whose invite lists ``door_id`` (cached per door)."""
        mask = self._door_masks.get(door_id)
        if mask is None:
            mask = np.fromiter((door_id in doors for doors in self.door_ids), dtype=np.bool_, count=len(self))
            self._door_masks[door_id] = mask
        return mask

    def model_mask(self, model_id: str) -> npt.NDArray[np.bool_]:
        """Boolean mask of the rows made by ``model_id`` (cached per model)."""
        mask = self._model_masks.get(model_id)
        if mask is None:
            mask = np.asarray(self.model_ids == model_id, dtype=np.bool_)
            self._model_masks[model_id] = mask
        return mask

    def eligible(self, door_id: str, now: datetime, model_id: str) -> npt.NDArray[np.bool_]:
        """Rows admissible at ``door_id`` at ``now`` made by ``model_id``."""
        t = now.timestamp()
        window = (self.valid_from <= t) & (t < self.valid_until)
        return self.door_mask(door_id) & window & self.model_mask(model_id)


@dataclass(frozen=True, slots=True)
class DoorView:
    """What the policy needs of a site's candidates at one door, now, for one probe.

    Attributes:
        visitor_ids, scores, template_images: the eligible candidates made by the probe's model
            (N = their number), their cosine similarity to the probe and the K their templates fuse.
    """

    visitor_ids: tuple[str, ...]
    scores: npt.NDArray[np.float32]
    template_images: npt.NDArray[np.int_]


@dataclass(frozen=True, slots=True)
class ClaimView:
    """The visitor named by a claim code, as the policy needs it.

    Attributes:
        visitor_id: None when the code names nobody admissible at this door now.
        score: cosine similarity to the probe; None when the template was made by another model
            (``stale_model``): templates of different models are never compared.
    """

    visitor_id: str | None
    score: float | None = None
    template_images: int = 1
    stale_model: bool = False


def door_view(candidates: CandidateSet, probe: Vector, probe_model_id: str, door_id: str, now: datetime) -> DoorView:
    """Scores of the candidates eligible at ``door_id`` at ``now`` whose templates the probe's model made."""
    rows = np.flatnonzero(candidates.eligible(door_id, now, probe_model_id))
    scores = (candidates.matrix[rows] @ probe).astype(np.float32) if rows.size else np.zeros(0, dtype=np.float32)
    return DoorView(
        visitor_ids=tuple(candidates.visitor_ids[int(r)] for r in rows),
        scores=scores,
        template_images=candidates.template_images[rows],
    )


def eligible_count(candidates: CandidateSet, door_id: str, now: datetime, model_id: str) -> int:
    """N: the visitors admissible at ``door_id`` at ``now`` with templates of ``model_id``."""
    return int(np.count_nonzero(candidates.eligible(door_id, now, model_id)))


def claim_view(
    candidates: CandidateSet, probe: Vector, probe_model_id: str, claim_hash: str, door_id: str, now: datetime
) -> ClaimView:
    """The visitor whose claim code has keyed hash ``claim_hash``, if admissible at ``door_id`` at ``now``."""
    row = candidates.claim_index.get(claim_hash)
    if row is None:
        return ClaimView(visitor_id=None)
    t = now.timestamp()
    admissible = (
        bool(candidates.door_mask(door_id)[row]) and candidates.valid_from[row] <= t < candidates.valid_until[row]
    )
    if not admissible:
        return ClaimView(visitor_id=None)
    visitor_id = candidates.visitor_ids[row]
    k = int(candidates.template_images[row])
    if str(candidates.model_ids[row]) != probe_model_id:
        return ClaimView(visitor_id=visitor_id, template_images=k, stale_model=True)
    return ClaimView(visitor_id=visitor_id, score=float(candidates.matrix[row] @ probe), template_images=k)

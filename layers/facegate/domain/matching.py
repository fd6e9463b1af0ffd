"""Closed-set matching: the door decision as pure functions over a candidate matrix.

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

from facegate.domain.models import Decision, DecisionMode, DecisionReason

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One enrolled visitor as the matcher sees it (plaintext vector, unit L2 norm)."""

    visitor_id: str
    vector: Vector
    model_id: str
    door_ids: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    claim_hash: str


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
    _door_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    _model_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    @classmethod
    def build(cls, version: int, candidates: Sequence[Candidate], dim: int = 128) -> CandidateSet:
        """Stack ``candidates`` into a matrix (n x dim float32)."""
        matrix = np.zeros((len(candidates), dim), dtype=np.float32)
        for row, candidate in enumerate(candidates):
            matrix[row] = candidate.vector
        return cls(
            version=version,
            visitor_ids=tuple(c.visitor_id for c in candidates),
            matrix=matrix,
            model_ids=np.array([c.model_id for c in candidates], dtype=np.str_),
            valid_from=np.array([c.valid_from.timestamp() for c in candidates], dtype=np.float64),
            valid_until=np.array([c.valid_until.timestamp() for c in candidates], dtype=np.float64),
            door_ids=tuple(frozenset(c.door_ids) for c in candidates),
            claim_index={c.claim_hash: row for row, c in enumerate(candidates)},
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


def identify(
    candidates: CandidateSet,
    probe: Vector,
    probe_model_id: str,
    door_id: str,
    now: datetime,
    threshold: float,
    margin: float,
) -> Decision:
    """Closed-set 1:N decision.

    Grant only if the best cosine similarity is >= ``threshold`` and beats the runner-up by at
    least ``margin`` (cosine units). ``probe`` must be unit-norm.
    """
    eligible = candidates.eligible(door_id, now, probe_model_id)
    count = int(np.count_nonzero(eligible))
    if count == 0:
        return Decision(False, DecisionReason.NO_CANDIDATES, DecisionMode.IDENTIFY, None, threshold)
    scores = np.where(eligible, candidates.matrix @ probe, -np.inf)
    top = np.argpartition(scores, -2)[-2:] if scores.size > 1 else np.array([0])
    top = top[np.argsort(scores[top])[::-1]]
    best_row = int(top[0])
    best = float(scores[best_row])
    runner_up = float(scores[top[1]]) if count > 1 else None
    if best < threshold:
        return Decision(False, DecisionReason.NO_MATCH, DecisionMode.IDENTIFY, best, threshold, None, runner_up, count)
    if runner_up is not None and best - runner_up < margin:
        return Decision(False, DecisionReason.AMBIGUOUS, DecisionMode.IDENTIFY, best, threshold, None, runner_up, count)
    visitor = candidates.visitor_ids[best_row]
    return Decision(True, DecisionReason.MATCH, DecisionMode.IDENTIFY, best, threshold, visitor, runner_up, count)


def verify_claim(
    candidates: CandidateSet,
    probe: Vector,
    probe_model_id: str,
    claim_hash: str,
    door_id: str,
    now: datetime,
    threshold: float,
) -> Decision:
    """1:1 decision against the visitor who holds the claim code (keyed hash ``claim_hash``).

    The claimed visitor must be admissible at this door now; grant if cosine >= ``threshold``.
    """
    row = candidates.claim_index.get(claim_hash)
    if row is None or not bool(candidates.eligible(door_id, now, probe_model_id)[row]):
        return Decision(False, DecisionReason.CLAIM_UNKNOWN, DecisionMode.CLAIM, None, threshold)
    similarity = float(candidates.matrix[row] @ probe)
    if similarity < threshold:
        return Decision(False, DecisionReason.CLAIM_MISMATCH, DecisionMode.CLAIM, similarity, threshold, None, None, 1)
    visitor = candidates.visitor_ids[row]
    return Decision(True, DecisionReason.MATCH, DecisionMode.CLAIM, similarity, threshold, visitor, None, 1)

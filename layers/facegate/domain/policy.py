"""The door policy: one pure function of the site's security level, the door's N, the mode, K, F and the scores.

Every threshold of facegate is resolved here, from the calibration data that ``scripts/calibrate.py`` measured
(``facegate/domain/calibration.json``), and nowhere else.

Security levels set targets for the whole door, not for one comparison:

* face alone: a stranger is granted on at most ``face_only_far`` of attempts at a door where N visitors are
  eligible. With per-comparison false-accept rate p, a stranger is taken for *someone* with probability
  1 - (1 - p)^N, so p = 1 - (1 - target)^(1/N) and the threshold rises with N.
* face + claim code: a stranger holding someone else's code is granted on at most ``claim_far`` of attempts (1:1).

Per-comparison rates this small are not observable on our data, so they are estimated with a tail model
(see :func:`tail_threshold`): on a probit scale the upper tail of the impostor scores is close to a straight
line, which is fitted to the empirical tail points and extrapolated; each point's rate is first replaced by its
95% upper confidence bound (Wilson), so the fitted line is an upper bound. The worst cohort wins: the threshold
is the largest over the calibration data sets. Where the threshold for the target would let fewer than
``MIN_FACE_ONLY_TAR`` of genuine visitors through (or exceeds cosine 1), face-only entry is off at that door:
the decision is a deny with reason ``claim_required``.

Liveness: a failed liveness check (head-turn challenge or a terminal's attested verdict) is a deny with reason
``liveness_failed`` at every level and in both modes, decided before any matching. At ``high`` face-only entry
needs liveness evidence; at ``standard`` the evidence is used when the terminal sends it and not required
(a standard site trades this for convenience; the claim code and the per-N thresholds still hold).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import NormalDist
from typing import Any

from facegate.domain.models import Decision, DecisionMode, DecisionReason, SecurityLevel

MIN_FACE_ONLY_TAR = 0.5
"""Face-only entry is off where its threshold would grant fewer than half of genuine visitors (useless)."""
MIN_TAIL_EXCEEDANCES = 10
"""Tail points are fitted only where at least this many impostor scores lie above them."""
MIN_GENUINE_PROBES = 20
"""A data set's genuine scores count for the expected acceptance rate only with at least this many probes."""
CONFIDENCE_Z = 1.645
"""One-sided 95% bound."""
MAX_K = 5
MAX_F = 3
DEFAULT_MARGIN = 0.005
"""Minimum cosine gap between the best and the runner-up candidate for a face-only grant."""
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class LevelTargets:
    """What a security level promises (door-level rates) and demands."""

    level: SecurityLevel
    face_only_far: float
    """Stranger granted by face alone, per attempt, at the door's N."""
    claim_far: float
    """Stranger holding someone else's claim code granted, per attempt."""
    liveness_required: bool
    """Face-only entry additionally requires liveness evidence: a passed head-turn challenge, or the signed
    verdict of a terminal with its own presentation-attack detection where the site accepts it. Without it
    face-only entry is off for that attempt (``claim_required``); the claim code (1:1) still works."""


LEVELS: Mapping[SecurityLevel, LevelTargets] = {
    SecurityLevel.STANDARD: LevelTargets(SecurityLevel.STANDARD, 1e-3, 1e-2, liveness_required=False),
    SecurityLevel.HIGH: LevelTargets(SecurityLevel.HIGH, 1e-4, 1e-3, liveness_required=True),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CellStats:
    """Score statistics of one data set for templates of K images against probes of F frames."""

    k: int
    f: int
    n_genuine_probes: int
    n_impostor: int
    impostor_tail: tuple[tuple[float, float], ...]
    """(rate, score): the fraction of impostor scores at or above ``score``."""
    impostor_top: tuple[float, ...]
    genuine_percentiles: tuple[float, ...]

    def empirical_far(self, threshold: float) -> float:
        """Observed fraction of impostor scores >= ``threshold`` (from the stored tail points)."""
        above = sum(1 for score in self.impostor_top if score >= threshold)
        if above < len(self.impostor_top):
            return above / self.n_impostor
        rates = [rate for rate, score in self.impostor_tail if score >= threshold]
        return max(rates) if rates else 1.0

    def tar(self, threshold: float) -> float:
        """Fraction of genuine scores >= ``threshold``, interpolated between percentiles."""
        points = self.genuine_percentiles
        if not points:
            return 0.0
        if threshold <= points[0]:
            return 1.0
        if threshold > points[-1]:
            return 0.0
        step = 1.0 / (len(points) - 1)
        for index in range(1, len(points)):
            low, high = points[index - 1], points[index]
            if threshold <= high:
                below = (index - 1) * step + (step * (threshold - low) / (high - low) if high > low else step)
                return max(0.0, 1.0 - below)
        return 0.0


@dataclass(frozen=True, slots=True)
class Calibration:
    """Measured score statistics per data set and (K, F), for one model id."""

    model_id: str
    cells: Mapping[str, Mapping[tuple[int, int], CellStats]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Parse the JSON written by ``scripts/calibrate.py``."""
        cells: dict[str, dict[tuple[int, int], CellStats]] = {}
        for name, dataset in data["datasets"].items():
            cells[name] = {
                (int(c["k"]), int(c["f"])): CellStats(
                    k=int(c["k"]),
                    f=int(c["f"]),
                    n_genuine_probes=int(c["n_genuine_probes"]),
                    n_impostor=int(c["n_impostor"]),
                    impostor_tail=tuple((float(r), float(s)) for r, s in c["impostor_tail"]),
                    impostor_top=tuple(float(s) for s in c["impostor_top"]),
                    genuine_percentiles=tuple(float(q) for q in c["genuine_percentiles"]),
                )
                for c in dataset["cells"]
            }
        return cls(model_id=str(data["model_id"]), cells=cells)

    @classmethod
    def normal(
        cls,
        model_id: str,
        impostor: tuple[float, float],
        genuine: tuple[float, float],
        n_impostor: int = 1_000_000,
        n_genuine_probes: int = 1000,
    ) -> Calibration:
        """A synthetic calibration with normal (mean, sd) impostor and genuine scores for every (K, F):
        for tests and what-if tables, never shipped."""
        mean, sd = impostor
        tail = []
        rate = 0.2
        while rate * n_impostor >= 1:
            tail.append((rate, mean + sd * _NORMAL.inv_cdf(1 - rate)))
            rate /= 10**0.1
        top = tuple(mean + sd * _NORMAL.inv_cdf(1 - (i + 0.5) / n_impostor) for i in range(20))
        percentiles = tuple(
            min(1.0, max(-1.0, genuine[0] + genuine[1] * _NORMAL.inv_cdf(min(max(q / 100, 1e-3), 1 - 1e-3))))
            for q in range(101)
        )
        cell = {
            (k, f): CellStats(
                k=k,
                f=f,
                n_genuine_probes=n_genuine_probes,
                n_impostor=n_impostor,
                impostor_tail=tuple(tail),
                impostor_top=top,
                genuine_percentiles=percentiles,
            )
            for k in range(1, MAX_K + 1)
            for f in range(1, MAX_F + 1)
        }
        return cls(model_id=model_id, cells={"synthetic": cell})

    def cell(self, dataset: str, k: int, f: int) -> CellStats | None:
        """The data set's cell for (K, F); where it was not measured, the nearest one with at least as many
        images fused (more fusion raises impostor scores: the conservative side), else the largest measured."""
        cells = self.cells[dataset]
        k, f = min(max(k, 1), MAX_K), min(max(f, 1), MAX_F)
        if (k, f) in cells:
            return cells[(k, f)]
        larger = [key for key in cells if key[0] >= k and key[1] >= f]
        if larger:
            return cells[min(larger, key=lambda key: (key[0] - k) + (key[1] - f))]
        return cells[max(cells, key=lambda key: key[0] + key[1])] if cells else None


@cache
def shipped_calibration() -> Calibration:
    """The calibration file shipped in the package (read once, on first use)."""
    text = resources.files("facegate.domain").joinpath("calibration.json").read_text()
    return Calibration.from_dict(json.loads(text))


def per_comparison_target(door_target: float, n_candidates: int) -> float:
    """The per-comparison false-accept rate p with 1 - (1 - p)^N = ``door_target``."""
    n = max(int(n_candidates), 1)
    return -math.expm1(math.log1p(-door_target) / n)


def wilson_upper(rate: float, n: int, z: float = CONFIDENCE_Z) -> float:
    """Upper Wilson score bound of a proportion ``rate`` observed in ``n`` trials."""
    denominator = 1.0 + z * z / n
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / denominator)


def tail_fit(cell: CellStats) -> tuple[float, float]:
    """(a, b) of the upper-bound tail line: score = a + b * z, z = probit(1 - rate_upper).

    Least squares over the stored tail points with at least ``MIN_TAIL_EXCEEDANCES`` scores above them.
    For normal scores a and b approach the mean and the standard deviation.
    """
    points = [
        (_NORMAL.inv_cdf(1.0 - wilson_upper(rate, cell.n_impostor)), score)
        for rate, score in cell.impostor_tail
        if rate * cell.n_impostor >= MIN_TAIL_EXCEEDANCES
    ]
    if len(points) < 3:
        raise ValueError(f"too few impostor scores to fit a tail for K={cell.k}, F={cell.f}")
    mean_z = sum(z for z, _ in points) / len(points)
    mean_s = sum(s for _, s in points) / len(points)
    sxx = sum((z - mean_z) ** 2 for z, _ in points)
    slope = sum((z - mean_z) * (s - mean_s) for z, s in points) / sxx
    return mean_s - slope * mean_z, slope


def tail_threshold(cell: CellStats, rate: float) -> float:
    """The cosine at which the upper-bound tail model puts the per-comparison false-accept rate at ``rate``.

    Never below an observed score that would already exceed ``rate`` empirically.
    """
    a, b = tail_fit(cell)
    modelled = a + b * _NORMAL.inv_cdf(1.0 - rate)
    observed = list(cell.impostor_top)
    allowed = int(rate * cell.n_impostor)
    empirical = observed[allowed] if allowed < len(observed) else -1.0
    return max(modelled, empirical + 1e-6 if empirical > -1.0 else empirical)


def tail_far(cell: CellStats, threshold: float) -> float:
    """Upper-bound estimate of the per-comparison false-accept rate at ``threshold``."""
    a, b = tail_fit(cell)
    return max(1.0 - _NORMAL.cdf((threshold - a) / b), cell.empirical_far(threshold) if threshold <= 1 else 0.0)


@dataclass(frozen=True, slots=True)
class Operating:
    """A resolved operating point: threshold (None = this entry is off), expected rates."""

    threshold: float | None
    expected_tar: float
    """Genuine visitors accepted (worst data set)."""
    expected_far: float
    """Stranger accepted per attempt at the door (upper-bound estimate; for face-only at the door's N)."""


class DoorPolicy:
    """Resolves thresholds from a calibration and decides door requests. Pure: no I/O, no clock."""

    def __init__(self, calibration: Calibration, margin: float = DEFAULT_MARGIN) -> None:
        self.calibration = calibration
        self.margin = margin
        self._cache: dict[tuple[Any, ...], Operating] = {}

    @property
    def model_id(self) -> str:
        """The model whose scores the calibration describes."""
        return self.calibration.model_id

    def _cells(self, k: int, f: int) -> list[CellStats]:
        return [c for name in self.calibration.cells if (c := self.calibration.cell(name, k, f)) is not None]

    def _tar(self, cells: Sequence[CellStats], threshold: float) -> float:
        usable = [c for c in cells if c.n_genuine_probes >= MIN_GENUINE_PROBES] or list(cells)
        return min(c.tar(threshold) for c in usable)

    def _far(self, cells: Sequence[CellStats], threshold: float) -> float:
        return max(tail_far(c, threshold) for c in cells)

    def face_only(self, level: SecurityLevel, n_candidates: int, k: int, f: int) -> Operating:
        """Face-only operating point at a door with ``n_candidates`` eligible, templates of K, probes of F."""
        key = ("face", level, max(n_candidates, 1), k, f)
        found = self._cache.get(key)
        if found is not None:
            return found
        target = per_comparison_target(LEVELS[level].face_only_far, n_candidates)
        cells = self._cells(k, f)
        threshold = max(tail_threshold(c, target) for c in cells)
        tar = self._tar(cells, threshold)
        door_far = -math.expm1(max(n_candidates, 1) * math.log1p(-min(self._far(cells, threshold), 1 - 1e-12)))
        usable = threshold < 1.0 and tar >= MIN_FACE_ONLY_TAR
        result = Operating(threshold if usable else None, tar if usable else 0.0, door_far if usable else 0.0)
        self._cache[key] = result
        return result

    def claim(self, level: SecurityLevel, k: int, f: int) -> Operating:
        """Face + claim code operating point (1:1) for a template of K images and a probe of F frames."""
        key = ("claim", level, k, f)
        found = self._cache.get(key)
        if found is not None:
            return found
        cells = self._cells(k, f)
        threshold = min(max(tail_threshold(c, LEVELS[level].claim_far) for c in cells), 1.0)
        result = Operating(threshold, self._tar(cells, threshold), self._far(cells, threshold))
        self._cache[key] = result
        return result

    # -- decisions ------------------------------------------------------------------------------

    @staticmethod
    def _refused(
        reason: DecisionReason,
        mode: DecisionMode,
        level: SecurityLevel,
        n_candidates: int,
        f: int,
        visitor_id: str | None = None,
    ) -> Decision:
        """A deny decided before any matching (no similarity, no threshold); ``visitor_id`` only for
        ``reenroll_required``."""
        return Decision(
            granted=False, reason=reason, mode=mode, level=level, visitor_id=visitor_id, n_candidates=n_candidates, f=f
        )

    def no_face(self, level: SecurityLevel, mode: DecisionMode, n_candidates: int, f: int = 0) -> Decision:
        """No usable face in the frames."""
        return self._refused(DecisionReason.NO_FACE, mode, level, n_candidates, f)

    def face_only_suspended(self, level: SecurityLevel, n_candidates: int, f: int = 0) -> Decision:
        """The terminal is cooling down: face-only matching is suspended there for now (``show_code``)."""
        return self._refused(DecisionReason.FACE_ONLY_SUSPENDED, DecisionMode.IDENTIFY, level, n_candidates, f)

    def claim_blocked(self, level: SecurityLevel, n_candidates: int, f: int = 0) -> Decision:
        """The claim code is blocked after repeated denials with it: not compared (``see_reception``)."""
        return self._refused(DecisionReason.CLAIM_BLOCKED, DecisionMode.CLAIM, level, n_candidates, f)

    def liveness_failed(self, level: SecurityLevel, mode: DecisionMode, n_candidates: int, f: int = 0) -> Decision:
        """The liveness check that came with the frames failed: a deny before any matching (``retry``)."""
        return self._refused(DecisionReason.LIVENESS_FAILED, mode, level, n_candidates, f)

    @staticmethod
    def face_only_needs_liveness(level: SecurityLevel) -> bool:
        """True when face-only entry at ``level`` needs liveness evidence."""
        return LEVELS[level].liveness_required

    def decide_face_only(
        self,
        level: SecurityLevel,
        visitor_ids: Sequence[str],
        scores: Sequence[float],
        template_images: Sequence[int],
        f: int,
        liveness_passed: bool | None = None,
    ) -> Decision:
        """Closed-set 1:N decision over the eligible candidates (N = ``len(scores)``).

        Each candidate is held to the threshold for its template's K at this N; the best-scoring candidate is
        granted if it clears its threshold and beats the runner-up by the margin. ``liveness_passed``: True when
        a liveness check passed, None when there is no liveness evidence, False when it failed. At a level that
        requires liveness, anything but True turns face-only entry off for this attempt (``claim_required``).
        """
        n = len(scores)
        mode = DecisionMode.IDENTIFY
        if n == 0:
            return self._refused(DecisionReason.NO_CANDIDATES, mode, level, 0, f)
        order = heapq.nlargest(2, range(n), key=scores.__getitem__)
        best = order[0]
        runner_up = float(scores[order[1]]) if n > 1 else None
        similarity = float(scores[best])
        k = int(template_images[best])
        threshold = self.face_only(level, n, k, f).threshold
        if liveness_passed is not True and LEVELS[level].liveness_required:
            threshold = None
        if threshold is None:
            reason = DecisionReason.CLAIM_REQUIRED
        elif similarity < threshold:
            reason = DecisionReason.NO_MATCH
        elif runner_up is not None and similarity - runner_up < self.margin:
            reason = DecisionReason.AMBIGUOUS
        else:
            reason = DecisionReason.MATCH
        granted = reason is DecisionReason.MATCH
        return Decision(
            granted=granted,
            reason=reason,
            mode=mode,
            level=level,
            threshold=threshold,
            similarity=similarity,
            visitor_id=visitor_ids[best] if granted else None,
            runner_up=runner_up,
            n_candidates=n,
            k=k,
            f=f,
        )

    def decide_claim(
        self,
        level: SecurityLevel,
        visitor_id: str | None,
        score: float | None,
        template_images: int,
        f: int,
        n_candidates: int,
        stale_model: bool = False,
    ) -> Decision:
        """1:1 decision against the visitor named by a claim code.

        ``visitor_id`` None: the code is unknown or not valid at this door now. ``stale_model``: the named
        visitor's template was made by another model (never compared): they must enroll again.
        """
        mode = DecisionMode.CLAIM
        if visitor_id is None:
            return self._refused(DecisionReason.CLAIM_UNKNOWN, mode, level, n_candidates, f)
        if stale_model or score is None:
            # the audit names who must enroll again (reception can help them); the terminal never learns it
            return self._refused(DecisionReason.REENROLL_REQUIRED, mode, level, n_candidates, f, visitor_id)
        threshold = self.claim(level, template_images, f).threshold
        threshold = 1.0 if threshold is None else threshold
        granted = score >= threshold
        return Decision(
            granted=granted,
            reason=DecisionReason.MATCH if granted else DecisionReason.CLAIM_MISMATCH,
            mode=mode,
            level=level,
            threshold=threshold,
            similarity=float(score),
            visitor_id=visitor_id if granted else None,
            n_candidates=n_candidates,
            k=template_images,
            f=f,
        )

    # -- what a site owner sees -----------------------------------------------------------------

    def summary(
        self,
        level: SecurityLevel,
        k: int = 3,
        frames: Sequence[int] = (1, 2, 3),
        sizes: Sequence[int] = (1, 10, 100, 1000),
    ) -> dict[str, Any]:
        """Effective thresholds and expected rates of ``level`` for templates of K images (JSON-ready)."""
        targets = LEVELS[level]
        face_only = []
        for n in sizes:
            for f in frames:
                op = self.face_only(level, n, k, f)
                face_only.append(
                    {
                        "n_candidates": n,
                        "frames": f,
                        "allowed": op.threshold is not None,
                        "threshold": None if op.threshold is None else round(op.threshold, 4),
                        "visitor_accept_rate": round(op.expected_tar, 4),
                        "stranger_accept_rate": float(f"{op.expected_far:.3g}"),
                    }
                )
        claim = []
        for f in frames:
            op = self.claim(level, k, f)
            claim.append(
                {
                    "frames": f,
                    "threshold": None if op.threshold is None else round(op.threshold, 4),
                    "visitor_accept_rate": round(op.expected_tar, 4),
                    "stranger_accept_rate": float(f"{op.expected_far:.3g}"),
                }
            )
        return {
            "level": level.value,
            "model_id": self.model_id,
            "enroll_images": k,
            "targets": {"face_only_stranger_rate": targets.face_only_far, "claim_stranger_rate": targets.claim_far},
            "liveness_required": targets.liveness_required,
            "face_only": face_only,
            "claim": claim,
        }

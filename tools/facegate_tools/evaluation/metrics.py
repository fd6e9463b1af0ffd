"""Verification metrics over similarity scores (higher = more alike), pure numpy.

Conventions: a pair is *accepted* when its score is >= the threshold. FAR is the fraction of
impostor scores accepted, TAR the fraction of genuine scores accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


def as_scores(values: object) -> Scores:
    """Coerce a sequence of scores to a 1-d float64 array."""
    return np.asarray(values, dtype=np.float64).reshape(-1)


def far_at(impostor: Scores, threshold: float) -> float:
    """Fraction of impostor scores >= ``threshold``."""
    return float(np.mean(impostor >= threshold)) if impostor.size else 0.0


def tar_at(genuine: Scores, threshold: float) -> float:
    """Fraction of genuine scores >= ``threshold``."""
    return float(np.mean(genuine >= threshold)) if genuine.size else 0.0


def threshold_for_far(impostor: Scores, far: float) -> float:
    """The smallest threshold whose FAR is <= ``far`` (just above the impostor score at that rank).

    With n impostor scores, at most floor(far * n) of them may be accepted.
    """
    if impostor.size == 0:
        return -1.0
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * impostor.size))
    if allowed >= ordered.size:
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


def tar_at_far(genuine: Scores, impostor: Scores, far: float) -> float:
    """TAR at the threshold where FAR first drops to <= ``far``."""
    return tar_at(genuine, threshold_for_far(impostor, far))


def roc_curve(genuine: Scores, impostor: Scores) -> tuple[Scores, Scores, Scores]:
    """(far, tar, thresholds), thresholds descending over every distinct score."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))[::-1]
    g = np.sort(genuine)
    i = np.sort(impostor)
    tar = 1.0 - np.searchsorted(g, thresholds, side="left") / max(g.size, 1)
    far = 1.0 - np.searchsorted(i, thresholds, side="left") / max(i.size, 1)
    return far, tar, thresholds


def auc(genuine: Scores, impostor: Scores) -> float:
    """Area under the ROC curve = P(genuine score > impostor score) + 0.5 P(tie) (Mann-Whitney)."""
    if genuine.size == 0 or impostor.size == 0:
        return float("nan")
    combined = np.concatenate([genuine, impostor])
    order = np.argsort(combined, kind="mergesort")
    ranks = np.empty(combined.size, dtype=np.float64)
    sorted_values = combined[order]
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average_rank, counts)
    rank_sum = ranks[: genuine.size].sum()
    return float((rank_sum - genuine.size * (genuine.size + 1) / 2.0) / (genuine.size * impostor.size))


def eer(genuine: Scores, impostor: Scores) -> float:
    """Equal error rate: where FAR = 1 - TAR (linear interpolation on the ROC)."""
    far, tar, _ = roc_curve(genuine, impostor)
    frr = 1.0 - tar
    diff = far - frr
    index = int(np.argmax(diff >= 0)) if np.any(diff >= 0) else len(diff) - 1
    if index == 0:
        return float((far[0] + frr[0]) / 2)
    d0, d1 = diff[index - 1], diff[index]
    weight = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float(far[index - 1] + weight * (far[index] - far[index - 1]))


def accuracy_at(scores: Scores, labels: npt.NDArray[np.bool_], threshold: float) -> float:
    """Fraction of pairs classified right (same = score >= threshold)."""
    return float(np.mean((scores >= threshold) == labels))


def best_threshold(scores: Scores, labels: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; the threshold sits midway between adjacent scores."""
    ordered = np.unique(scores)
    candidates = np.concatenate([[ordered[0] - 1e-6], (ordered[:-1] + ordered[1:]) / 2.0, [ordered[-1] + 1e-6]])
    accepted = scores[None, :] >= candidates[:, None]
    accuracies = np.mean(accepted == labels[None, :], axis=1)
    best = int(np.argmax(accuracies))
    return float(candidates[best]), float(accuracies[best])


@dataclass(frozen=True, slots=True)
class FoldResult:
    """Cross-validated accuracy: per-fold accuracies with thresholds chosen on the other folds."""

    accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))


def kfold_accuracy(scores: Scores, labels: npt.NDArray[np.bool_], folds: npt.NDArray[np.int_]) -> FoldResult:
    """LFW protocol: for each fold, pick the best threshold on the other folds and test on this one."""
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        train = folds != fold
        threshold, _ = best_threshold(scores[train], labels[train])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(scores[~train], labels[~train], threshold))
    return FoldResult(tuple(accuracies), tuple(thresholds))

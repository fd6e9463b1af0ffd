"""Accuracy reports of the face engine on pair files and folder-per-identity sets."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import DoorPolicy, shipped_calibration
from facegate.errors import FacegateError
from facegate.vision.engine import FaceEngine, Pick, fuse
from facegate_tools.evaluation import metrics
from facegate_tools.evaluation.datasets import PairSet, read_identities

T = TypeVar("T")
Describe = Callable[[bytes], npt.NDArray[np.float32] | None]
MISSING_SCORE = -1.0
"""Score given to a pair when one of its images has no detectable face: counted as 'different'."""


def progress[T](items: Sequence[T], label: str, enabled: bool | None = None) -> Iterable[T]:
    """Yield ``items``, drawing a one-line progress bar on stderr when it is a terminal."""
    show = sys.stderr.isatty() if enabled is None else enabled
    total = len(items)
    started = time.perf_counter()
    for index, item in enumerate(items, start=1):
        yield item
        if show and (index == total or index % 10 == 0):
            done = int(30 * index / max(total, 1))
            rate = index / max(time.perf_counter() - started, 1e-9)
            sys.stderr.write(f"\r{label} [{'#' * done}{'.' * (30 - done)}] {index}/{total} {rate:.0f}/s")
            sys.stderr.flush()
    if show:
        sys.stderr.write("\n")


def describe_all(
    paths: Sequence[Path], describe: Describe, label: str
) -> tuple[dict[Path, npt.NDArray[np.float32]], list[Path]]:
    """Descriptors of every image (those with a face) and the list of images without one."""
    found: dict[Path, npt.NDArray[np.float32]] = {}
    missing: list[Path] = []
    for path in progress(paths, label):
        try:
            descriptor = describe(path.read_bytes())
        except FacegateError:
            descriptor = None
        if descriptor is None:
            missing.append(path)
        else:
            found[path] = descriptor
    return found, missing


def default_threshold(mode: str, k: int = 1, f: int = 1) -> float:
    """The door policy's threshold (standard level) for templates of K images and probes of F frames:
    ``claim`` = the 1:1 claim-code check, ``identify`` = face alone at a door with one candidate (1.0 where
    face-only entry is off)."""
    policy = DoorPolicy(shipped_calibration())
    if mode == "claim":
        threshold = policy.claim(SecurityLevel.STANDARD, k, f).threshold
    else:
        threshold = policy.face_only(SecurityLevel.STANDARD, 1, k, f).threshold
    return 1.0 if threshold is None else round(threshold, 4)


def _rate_block(genuine: metrics.Scores, impostor: metrics.Scores, threshold: float) -> dict[str, Any]:
    return {
        "auc": round(metrics.auc(genuine, impostor), 6),
        "eer": round(metrics.eer(genuine, impostor), 6),
        "tar_at_far_1e-2": round(metrics.tar_at_far(genuine, impostor, 1e-2), 6),
        "tar_at_far_1e-3": round(metrics.tar_at_far(genuine, impostor, 1e-3), 6),
        "threshold_at_far_1e-2": round(metrics.threshold_for_far(impostor, 1e-2), 6),
        "threshold_at_far_1e-3": round(metrics.threshold_for_far(impostor, 1e-3), 6),
        "default_threshold": threshold,
        "far_at_default_threshold": round(metrics.far_at(impostor, threshold), 6),
        "tar_at_default_threshold": round(metrics.tar_at(genuine, threshold), 6),
    }


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Dot product of unit descriptors."""
    return float(a @ b)


def evaluate_pairs(
    pairs: PairSet,
    describe: Describe,
    model_id: str,
    mode: str = "claim",
    scores_out: list[float] | None = None,
    similarity: Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], float] = cosine,
    threshold: float | None = None,
    missing_score: float = MISSING_SCORE,
) -> dict[str, Any]:
    """LFW-protocol report: 10-fold (or best-threshold) accuracy, AUC, TAR@FAR, rates at the default threshold.

    ``similarity`` scores two descriptors (higher = more alike); ``threshold`` overrides the shipped
    threshold of ``mode``; pairs with an image without a face score ``missing_score``.
    """
    started = time.perf_counter()
    found, missing = describe_all(pairs.images, describe, "describing")
    scores = np.array(
        [similarity(found[a], found[b]) if a in found and b in found else missing_score for a, b in pairs.pairs],
        dtype=np.float64,
    )
    if scores_out is not None:
        scores_out.extend(scores.tolist())
    labels = pairs.same
    threshold = default_threshold(mode) if threshold is None else threshold
    if pairs.folds is not None:
        folds = metrics.kfold_accuracy(scores, labels, pairs.folds)
        accuracy, accuracy_std, protocol = folds.mean, folds.std, "10-fold"
    else:
        _, accuracy = metrics.best_threshold(scores, labels)
        accuracy_std, protocol = 0.0, "best-threshold"
    best, best_accuracy = metrics.best_threshold(scores, labels)
    genuine, impostor = scores[labels], scores[~labels]
    return {
        "accuracy": round(accuracy, 6),
        "accuracy_std": round(accuracy_std, 6),
        "accuracy_protocol": protocol,
        "best_threshold": round(best, 6),
        "best_threshold_accuracy": round(best_accuracy, 6),
        "accuracy_at_default_threshold": round(metrics.accuracy_at(scores, labels, threshold), 6),
        "mode": mode,
        **_rate_block(genuine, impostor, threshold),
        "n_pairs": len(pairs.pairs),
        "n_images": len(pairs.images),
        "n_no_face": len(missing),
        "no_face_handling": f"pairs with an image without a face score {missing_score} (counted as different)",
        "no_face_images": [str(p) for p in missing[:20]],
        "seconds": round(time.perf_counter() - started, 2),
        "model_id": model_id,
    }


def cosine_matrix(probes: npt.NDArray[np.float32], templates: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Cosine similarities of unit probes (rows) against unit templates (columns)."""
    return (probes @ templates.T).astype(np.float64)


def negative_distance_matrix(
    probes: npt.NDArray[np.float32], templates: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Minus the Euclidean distances (dlib's own measure), so that higher means more alike."""
    difference = probes[:, None, :].astype(np.float64) - templates[None, :, :].astype(np.float64)
    return -np.linalg.norm(difference, axis=2)


def evaluate_identities(
    root: Path,
    describe: Describe,
    model_id: str,
    enroll_images: int = 1,
    mode: str = "identify",
    threshold: float | None = None,
    scores_of: Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], npt.NDArray[np.float64]] = cosine_matrix,
    fuse_template: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] = fuse,
) -> dict[str, Any]:
    """Template (first K images fused) vs every other image of every identity.

    ``scores_of`` and ``fuse_template`` default to the engine's cosine and fusion; the dlib reference
    uses minus the Euclidean distance and the plain mean.
    """
    started = time.perf_counter()
    identities = read_identities(root)
    all_paths = [path for paths in identities.values() for path in paths]
    found, missing = describe_all(all_paths, describe, "describing")
    names, templates = [], []
    probes: list[tuple[int, npt.NDArray[np.float32]]] = []
    for name, paths in identities.items():
        usable = [found[p] for p in paths if p in found]
        if len(usable) <= enroll_images:
            continue
        names.append(name)
        templates.append(fuse_template(np.stack(usable[:enroll_images])))
        probes.extend((len(names) - 1, vector) for vector in usable[enroll_images:])
    if len(templates) < 2:
        raise FacegateError(f"too few identities with more than {enroll_images} usable images")
    matrix = np.stack(templates)
    probe_matrix = np.stack([vector for _, vector in probes])
    owners = np.array([owner for owner, _ in probes])
    scores = scores_of(probe_matrix, matrix)
    genuine_mask = owners[:, None] == np.arange(len(templates))[None, :]
    genuine = scores[genuine_mask].astype(np.float64)
    impostor = scores[~genuine_mask].astype(np.float64)
    chosen = default_threshold(mode, enroll_images) if threshold is None else threshold
    return {
        **_rate_block(genuine, impostor, chosen),
        "mode": mode,
        "enroll_images": enroll_images,
        "n_identities": len(templates),
        "n_images": len(all_paths),
        "n_no_face": len(missing),
        "no_face_handling": "images without a detectable face are left out (as enrollment or probe)",
        "n_genuine": int(genuine.size),
        "n_impostor": int(impostor.size),
        "seconds": round(time.perf_counter() - started, 2),
        "model_id": model_id,
    }


def engine_describer(engine: FaceEngine, pick: Pick) -> Describe:
    """Descriptor function of an engine (no quality gates), picking the face by ``pick``."""

    def describe(data: bytes) -> npt.NDArray[np.float32] | None:
        return engine.describe(data, pick=pick)

    return describe

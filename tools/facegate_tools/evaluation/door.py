"""``facegate eval door``: the whole door, simulated with the door policy on folder-per-identity data sets.

Protocol (issue 11):

* gallery: identities with >= K + F images are enrolled with their first K (fused); every further disjoint group
  of F images is one visitor attempt (F photos stand in for a burst of F frames: an optimistic proxy, frames of
  one burst are more alike).
* strangers: never enrolled; each group of F images is a stranger attempt, tried by face alone and with the
  claim code of a randomly chosen enrolled visitor (``stranger_with_one_random_code_rate``; the headline
  ``stranger_with_stolen_code_rate`` is its expectation, the share of every enrolled visitor's code that would
  let the stranger in, which removes the noise of the draw). Without strangers, the gallery's identities are
  split in two halves and each half is the strangers of the other (two runs, pooled).
* distractors: more identities enrolled (their first min(K, n) images) only to reach N. For each N the door's
  candidates are the attempt's own visitor plus N - 1 others (seeded draw); a stranger meets N enrolled people.
* a visitor attempt goes through if face alone grants them, or, after a face-only deny, face + own code grants.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import DoorPolicy
from facegate.vision.engine import fuse
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.descriptors import DescriptorCache
from facegate_tools.evaluation.runner import progress

Vector = npt.NDArray[np.float32]
BURST_CAVEAT = (
    "caveat: each attempt fuses F different photos of the person as a stand-in for a burst of F frames; frames "
    "of one real burst are more alike, so the F > 1 figures are optimistic"
)


@dataclass(slots=True)
class Enrolled:
    """Templates at the door: one row per enrolled identity."""

    names: list[str] = field(default_factory=list)
    vectors: list[Vector] = field(default_factory=list)
    ks: list[int] = field(default_factory=list)

    def add(self, name: str, images: Sequence[Vector], k: int) -> None:
        used = list(images[:k])
        self.names.append(name)
        self.vectors.append(fuse(np.stack(used)))
        self.ks.append(len(used))


@dataclass(frozen=True, slots=True)
class Attempt:
    owner: int
    """Row of the attempt's own template, or -1 for a stranger."""
    probe: Vector


def _groups(vectors: Sequence[Vector], f: int) -> list[Vector]:
    return [fuse(np.stack(vectors[i : i + f])) for i in range(0, len(vectors) - f + 1, f)]


def build_door(
    gallery: dict[str, list[Vector]],
    strangers: dict[str, list[Vector]],
    distractors: dict[str, list[Vector]],
    k: int,
    f: int,
) -> tuple[Enrolled, list[Attempt], list[Attempt], int]:
    """(enrolled templates, visitor attempts, stranger attempts, how many rows are gallery visitors)."""
    enrolled = Enrolled()
    visitors: list[Attempt] = []
    for name, vectors in gallery.items():
        if len(vectors) >= k + f:
            enrolled.add(name, vectors, k)
            row = len(enrolled.names) - 1
            visitors.extend(Attempt(row, probe) for probe in _groups(vectors[k:], f))
    n_gallery = len(enrolled.names)
    for name, vectors in distractors.items():
        if vectors and name not in gallery and name not in strangers:
            enrolled.add(name, vectors, k)
    strange = [Attempt(-1, probe) for vectors in strangers.values() for probe in _groups(vectors, f)]
    return enrolled, visitors, strange, n_gallery


@dataclass(slots=True)
class Tally:
    """Counts of one N over one or more runs."""

    n_candidates: int = 0
    visitors: int = 0
    face_only: int = 0
    with_code: int = 0
    through: int = 0
    wrong_person: int = 0
    strangers: int = 0
    stranger_face_only: int = 0
    stranger_with_code: float = 0.0
    """Summed over stranger attempts: the share of enrolled visitors' codes that would let the stranger in."""
    stranger_with_random_code: int = 0


def simulate(
    policy: DoorPolicy,
    level: SecurityLevel,
    enrolled: Enrolled,
    visitors: Sequence[Attempt],
    strangers: Sequence[Attempt],
    n_gallery: int,
    n: int,
    f: int,
    rng: random.Random,
    tally: Tally,
    show_progress: bool | None = None,
) -> None:
    """Run every attempt at a door with ``n`` candidates and add the outcomes to ``tally``."""
    matrix = np.stack(enrolled.vectors)
    ks = np.array(enrolled.ks)
    total = len(enrolled.names)
    n = min(n, total)
    tally.n_candidates = max(tally.n_candidates, n)
    everyone = list(range(total))
    gallery_rows = list(range(n_gallery))
    for attempt in progress(list(visitors) + list(strangers), f"N={n}", show_progress):
        scores_all = matrix @ attempt.probe
        if attempt.owner >= 0:
            others = rng.sample([r for r in everyone if r != attempt.owner], n - 1)
            rows = [attempt.owner, *others]
        else:
            rows = rng.sample(everyone, n)
        ids = [str(r) for r in rows]
        decision = policy.decide_face_only(level, ids, scores_all[rows].tolist(), ks[rows].tolist(), f)
        if attempt.owner >= 0:
            tally.visitors += 1
            own = str(attempt.owner)
            claim = policy.decide_claim(
                level, own, float(scores_all[attempt.owner]), int(ks[attempt.owner]), f, n
            ).granted
            tally.with_code += claim
            if decision.granted and decision.visitor_id == own:
                tally.face_only += 1
                tally.through += 1
            else:
                tally.wrong_person += decision.granted
                tally.through += claim and not decision.granted
        else:
            tally.strangers += 1
            tally.stranger_face_only += decision.granted
            victim = rng.choice(gallery_rows)
            stolen = policy.decide_claim(level, str(victim), float(scores_all[victim]), int(ks[victim]), f, n)
            tally.stranger_with_random_code += stolen.granted
            granted_codes = sum(
                policy.decide_claim(level, str(row), float(scores_all[row]), int(ks[row]), f, n).granted
                for row in gallery_rows
            )
            tally.stranger_with_code += granted_codes / len(gallery_rows)


def evaluate_door(
    policy: DoorPolicy,
    describe: Callable[[Sequence[Path], str], dict[Path, Vector]],
    gallery_root: Path,
    strangers_root: Path | None,
    distractors_root: Path | None,
    k: int,
    f: int,
    sizes: Sequence[int],
    level: SecurityLevel,
    seed: int,
    pick: str = "largest",
    distractor_pick: str = "center",
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """The JSON report of ``facegate eval door``: one result object per N (see the module docstring)."""

    def load(root: Path, how: str) -> dict[str, list[Vector]]:
        paths = read_identities(root)
        found = describe([p for ps in paths.values() for p in ps], how)
        return {name: [found[p] for p in ps if p in found] for name, ps in paths.items()}

    gallery = load(gallery_root, pick)
    distractors = load(distractors_root, distractor_pick) if distractors_root else {}
    runs: list[tuple[dict[str, list[Vector]], dict[str, list[Vector]]]]
    if strangers_root is not None:
        runs = [(gallery, load(strangers_root, pick))]
    else:
        names = list(gallery)
        random.Random(seed).shuffle(names)
        half = len(names) // 2
        first = {n: gallery[n] for n in names[:half]}
        second = {n: gallery[n] for n in names[half:]}
        runs = [(first, second), (second, first)]
    results = []
    thresholds: dict[str, Any] = {"claim": _round(policy.claim(level, k, f).threshold), "face_only": {}}
    for n in sizes:
        tally = Tally()
        rng = random.Random(f"{seed}:{n}")
        for enrolled_part, stranger_part in runs:
            enrolled, visitors, strangers, n_gallery = build_door(enrolled_part, stranger_part, distractors, k, f)
            if n_gallery == 0:
                raise ValueError(f"no gallery identity has {k} + {f} images")
            simulate(policy, level, enrolled, visitors, strangers, n_gallery, n, f, rng, tally, show_progress)
        operating = policy.face_only(level, tally.n_candidates, k, f)
        thresholds["face_only"][str(tally.n_candidates)] = _round(operating.threshold)
        results.append(
            {
                "n_candidates": tally.n_candidates,
                "face_only_allowed": operating.threshold is not None,
                "visitor_face_only_rate": _rate(tally.face_only, tally.visitors),
                "visitor_with_code_rate": _rate(tally.with_code, tally.visitors),
                "visitor_through_rate": _rate(tally.through, tally.visitors),
                "visitor_wrong_person_rate": _rate(tally.wrong_person, tally.visitors),
                "stranger_face_only_rate": _rate(tally.stranger_face_only, tally.strangers),
                "stranger_face_only_estimate": float(f"{operating.expected_far:.3g}"),
                "stranger_with_stolen_code_rate": _rate(tally.stranger_with_code, tally.strangers),
                "stranger_with_one_random_code_rate": _rate(tally.stranger_with_random_code, tally.strangers),
                "n_visitor_attempts": tally.visitors,
                "n_stranger_attempts": tally.strangers,
            }
        )
    return {
        "level": level.value,
        "enroll_images": k,
        "frames": f,
        "model_id": policy.model_id,
        "thresholds": thresholds,
        "results": results,
        "seed": seed,
        "strangers": "given" if strangers_root is not None else "gallery halves, each strangers to the other",
        "caveat": BURST_CAVEAT,
    }


def _rate(count: float, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def print_table(report: dict[str, Any], out: Any = sys.stdout) -> None:
    """The report as a small table (what a visitor experiences)."""
    print(
        f"level {report['level']}, K={report['enroll_images']} selfies, F={report['frames']} frames, "
        f"model {report['model_id']}, claim threshold {report['thresholds']['claim']}",
        file=out,
    )
    header = (
        "N",
        "face-only",
        "thr",
        "vis face",
        "vis code",
        "vis through",
        "wrong",
        "str face",
        "str est",
        "str code",
    )
    print("  ".join(f"{h:>10s}" for h in header), file=out)
    for row in report["results"]:
        threshold = report["thresholds"]["face_only"].get(str(row["n_candidates"]))
        values = (
            row["n_candidates"],
            "on" if row["face_only_allowed"] else "off",
            "-" if threshold is None else f"{threshold:.3f}",
            row["visitor_face_only_rate"],
            row["visitor_with_code_rate"],
            row["visitor_through_rate"],
            row["visitor_wrong_person_rate"],
            row["stranger_face_only_rate"],
            row["stranger_face_only_estimate"],
            row["stranger_with_stolen_code_rate"],
        )
        print("  ".join(f"{v!s:>10s}" for v in values), file=out)
    row = report["results"][0] if report["results"] else {}
    print(f"attempts: {row.get('n_visitor_attempts')} visitor, {row.get('n_stranger_attempts')} stranger", file=out)


def cached_describer(
    engine_factory: Callable[[], Any], model_id: str, cache_dir: Path
) -> Callable[[Sequence[Path], str], dict[Path, Vector]]:
    """A describer over the descriptor cache; the engine is loaded only for images not cached yet."""
    cache = DescriptorCache(model_id, cache_dir)
    engine: list[Any] = []

    def describe_one(data: bytes, pick: str) -> Vector | None:
        if not engine:
            engine.append(engine_factory())
        result: Vector | None = engine[0].describe(data, pick=pick)
        return result

    def describe(paths: Sequence[Path], pick: str) -> dict[Path, Vector]:
        found = cache.describe_paths(paths, lambda data: describe_one(data, pick), f"describing ({pick})", pick)
        cache.save()
        return found

    return describe

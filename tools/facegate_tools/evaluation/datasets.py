"""Readers for evaluation data sets: LFW-format pair files and folder-per-identity sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.errors import InvalidRequest

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".bmp"})


@dataclass(frozen=True, slots=True)
class PairSet:
    """Verification pairs.

    Attributes:
        pairs: (image a, image b) paths.
        same: True for a genuine (same person) pair.
        folds: fold index per pair, or None when the file has no folds.
    """

    pairs: tuple[tuple[Path, Path], ...]
    same: npt.NDArray[np.bool_]
    folds: npt.NDArray[np.int_] | None

    @property
    def images(self) -> list[Path]:
        """Every distinct image, in first-use order."""
        return list(dict.fromkeys(path for pair in self.pairs for path in pair))


def lfw_image(root: Path, name: str, number: str) -> Path:
    """``root/<name>/<name>_<nnnn>.jpg``."""
    return root / name / f"{name}_{int(number):04d}.jpg"


def read_pairs(pairs_file: Path, root: Path) -> PairSet:
    """Read an LFW pairs file.

    The header is ``folds<TAB>n`` (each fold: n same-person pairs then n different-person pairs)
    or a single count ``n`` (n same then n different, no folds). Same-person lines are
    ``name i j``; different-person lines are ``name1 i name2 j``.
    """
    lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    if not lines:
        raise InvalidRequest(f"{pairs_file} is empty")
    header = [int(value) for value in lines[0]]
    folds_count, per_half = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    body = lines[1:]
    if len(body) != folds_count * 2 * per_half:
        raise InvalidRequest(f"{pairs_file}: header promises {folds_count * 2 * per_half} pairs, found {len(body)}")
    pairs: list[tuple[Path, Path]] = []
    same: list[bool] = []
    folds: list[int] = []
    for index, fields in enumerate(body):
        if len(fields) == 3:
            pairs.append((lfw_image(root, fields[0], fields[1]), lfw_image(root, fields[0], fields[2])))
            same.append(True)
        elif len(fields) == 4:
            pairs.append((lfw_image(root, fields[0], fields[1]), lfw_image(root, fields[2], fields[3])))
            same.append(False)
        else:
            raise InvalidRequest(f"{pairs_file}: line {index + 2} is not a pair")
        folds.append(index // (2 * per_half))
    return PairSet(
        pairs=tuple(pairs),
        same=np.array(same, dtype=np.bool_),
        folds=np.array(folds, dtype=np.int_) if folds_count > 1 else None,
    )


def read_identities(root: Path) -> dict[str, list[Path]]:
    """Folder-per-identity data set: identity name -> its image files (sorted by name)."""
    identities = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            identities[folder.name] = images
    if not identities:
        raise InvalidRequest(f"{root} holds no identity folders with images")
    return identities

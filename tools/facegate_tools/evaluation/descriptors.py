"""Descriptor cache for evaluation: one unit vector per image file, per model id, on disk.

``build/cache/descriptors-<model_id>.npz`` maps an image's SHA-256 (of its bytes) to its descriptor
(or to "no face"), so calibration and ``facegate eval door`` re-runs skip the face engine for images
already seen by the same model. A different model id is a different file: descriptors of different
models never mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.errors import FacegateError
from facegate_tools.evaluation.runner import progress

Vector = npt.NDArray[np.float32]
Describe = Callable[[bytes], Vector | None]
DEFAULT_CACHE_DIR = Path("build/cache")


def cache_path(model_id: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Where the descriptors of ``model_id`` are cached."""
    return cache_dir / f"descriptors-{model_id}.npz"


class DescriptorCache:
    """Descriptors by image content hash for one model id (``None`` = no face found)."""

    def __init__(self, model_id: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> None:
        self.model_id = model_id
        self.path = cache_path(model_id, cache_dir)
        self._vectors: dict[str, Vector | None] = {}
        self._dirty = False
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                keys = [str(k) for k in data["keys"]]
                vectors = data["vectors"].astype(np.float32)
                found = data["found"].astype(bool)
            for key, vector, ok in zip(keys, vectors, found, strict=True):
                self._vectors[key] = vector if ok else None

    def __len__(self) -> int:
        return len(self._vectors)

    def describe_paths(self, paths: Sequence[Path], describe: Describe, label: str, pick: str) -> dict[Path, Vector]:
        """Descriptors of ``paths`` (images without a face are left out), computing only the unseen ones.

        ``pick`` is part of the key: the same image described with another face choice is another entry.
        """
        found: dict[Path, Vector] = {}
        for path in progress(paths, label):
            data = path.read_bytes()
            key = f"{pick}:{hashlib.sha256(data).hexdigest()}"
            if key not in self._vectors:
                try:
                    vector = describe(data)
                except FacegateError:
                    vector = None
                self._vectors[key] = None if vector is None else np.asarray(vector, dtype=np.float32)
                self._dirty = True
            cached = self._vectors[key]
            if cached is not None:
                found[path] = cached
        return found

    def save(self) -> None:
        """Write the cache if anything was added (atomic rename)."""
        if not self._dirty or not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        dim = next((v.shape[0] for v in self._vectors.values() if v is not None), 128)
        vectors = np.zeros((len(keys), dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        for row, key in enumerate(keys):
            vector = self._vectors[key]
            if vector is not None:
                vectors[row] = vector
                found[row] = True
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez_compressed(temporary, keys=np.array(keys, dtype=np.str_), vectors=vectors, found=found)
        temporary.replace(self.path)
        self._dirty = False

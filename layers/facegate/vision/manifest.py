"""The model directory's manifest: which files the runtime loads and how they are checked.

Written by ``facegate model build`` (tooling); read here by the runtime, which never imports build code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final

from facegate.errors import ModelUnavailable

MANIFEST: Final = "manifest.json"
RECIPE: Final = "facegate-modelbuild/3"
DETECTOR_FILE: Final = "yunet_fp32.onnx"
EMBEDDER_FILE: Final = "sface_fp32.onnx"
VARIANT: Final = "fp32"
"""The one embedder variant that ships (int8 attempts did not meet the bar: docs/measurements.md)."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_dir(model_dir: Path) -> dict[str, Any]:
    """Load ``manifest.json`` and check every listed file's size and sha256.

    Raises:
        ModelUnavailable: a file is missing or altered, or the manifest is from another recipe.
    """
    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        raise ModelUnavailable(f"{manifest_path} not found: run 'facegate model build' (or 'make models')")
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise ModelUnavailable(f"{manifest_path} is not valid JSON") from exc
    if manifest.get("recipe") != RECIPE:
        raise ModelUnavailable(f"{manifest_path} was made by another build recipe; rebuild the models")
    for name, entry in manifest.get("files", {}).items():
        path = model_dir / name
        if not path.is_file() or path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise ModelUnavailable(f"{path} is missing or does not match manifest.json; rebuild the models")
    return manifest

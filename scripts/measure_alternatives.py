"""Measured alternatives for the open targets, none shipped (docs/door-policy.md, docs/measurements.md).

    .venv/bin/python scripts/measure_alternatives.py door       [--shared ../shared]
    .venv/bin/python scripts/measure_alternatives.py liveness   [--shared ../shared] [--seeds 0,1]
    .venv/bin/python scripts/measure_alternatives.py candidate  --onnx FILE [--mean 127.5] [--std 127.5] [--bgr]

``door``: can test-time augmentation lift face-only entry at a 10-visitor door (issue 11 asks 0.80 of
east-asian-dev visitors with one frame)? Every image of both data sets is described plain, with its mirror
image (flip averaging) and with both plus small scale, shift and rotation changes of the aligned chip; for
each variant the calibration is rebuilt (``scripts/calibrate.py``'s protocol, roles apart: the template
images and the probe frames may be described differently) and the door policy resolves its thresholds. It
prints, per K (selfies) and F (frames), the face-only threshold at N = 1 and N = 10 and the share of each data
set's genuine probes above it.

``liveness``: can a check that *every frame matches the granted visitor's template* replace part of the
frame-to-frame consistency check, so that the photo proxy's bona fide sequences (photos years apart) stop
failing ``different_people`` while splices of two people stay refused? For each consistency threshold and
per-frame template threshold: BPCER of the proxy and APCER of the splice attack (``facegate eval liveness``'s
sequences; the template of a person is up to three of their photos not used in the sequence, and only sequences
whose people have such a photo are counted; a splice is accepted when every frame matches either person's
template).

``candidate``: the same policy table for another recognizer (an ONNX file taking 112x112 ArcFace-aligned chips)
on facegate's own detection and alignment, beside SFace: what a better recognizer would give the door before
anyone integrates it, and the liveness consistency check's trade-off (proxy BPCER against splice APCER) with its
descriptors. Prints its time per face too.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from calibrate import cell
from PIL import Image

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import Calibration, DoorPolicy
from facegate.vision.engine import FaceEngine, fuse, l2_normalise, pick_face
from facegate.vision.liveness import LIVENESS_THRESHOLDS, FrameObservation, LivenessThresholds, check_challenge
from facegate_tools.engine import load_engine
from facegate_tools.evaluation import liveness as live
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.runner import progress

REPO = Path(__file__).resolve().parents[1]
DATASETS = {"east-asian-dev": "largest", "lfw-dev": "center"}
Raw = npt.NDArray[np.float32]
Chips = npt.NDArray[np.uint8]
CHIP_CENTRE = 55.5
AUGMENTATIONS: dict[str, dict[str, float]] = {
    "scale +5%": {"scale": 1.05},
    "scale -5%": {"scale": 0.95},
    "shift +2 px": {"dx": 2.0},
    "shift -2 px": {"dx": -2.0},
    "rotate +4 deg": {"angle": 4.0},
    "rotate -4 deg": {"angle": -4.0},
}


def chips_of(engine: FaceEngine, root: Path, pick: str) -> tuple[list[str], Chips]:
    """The aligned 112x112 chip of the dominant face of every image under ``root`` (owner per chip)."""
    owners, chips = [], []
    for identity, paths in read_identities(root).items():
        for path in progress(paths, identity[:9].ljust(9)):
            decoded = engine.decode(path.read_bytes())
            found = engine.find_faces(decoded)
            if not found:
                continue
            height, width = decoded.rgb.shape[:2]
            face = engine.refine(
                decoded.rgb, pick_face(found, width, height, "center" if pick == "center" else "largest")
            )
            chips.append(engine.chip(decoded.rgb, face))
            owners.append(identity)
    return owners, np.stack(chips)


def moved(chips: Chips, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0) -> Chips:
    """The chips scaled, shifted (pixels) and rotated (degrees) about their centre."""
    turn = np.deg2rad(angle)
    inverse = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]) / scale
    offset = np.array([CHIP_CENTRE, CHIP_CENTRE]) - inverse @ np.array([CHIP_CENTRE + dx, CHIP_CENTRE + dy])
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return np.stack(
        [
            np.asarray(
                Image.fromarray(chip).transform(
                    (112, 112), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR
                )
            )
            for chip in chips
        ]
    )


def calibration_of(owners: dict[str, list[str]], templates: dict[str, Raw], probes: dict[str, Raw]) -> Calibration:
    """The door policy's calibration for descriptors of the template role and of the probe role."""
    datasets = {}
    for name, who in owners.items():
        as_template: dict[str, list[Raw]] = {}
        as_probe: dict[str, list[Raw]] = {}
        for index, identity in enumerate(who):
            as_template.setdefault(identity, []).append(templates[name][index])
            as_probe.setdefault(identity, []).append(probes[name][index])
        cells = [c for k in range(1, 6) for f in range(1, 4) if (c := cell(as_template, k, f, as_probe)) is not None]
        datasets[name] = {"cells": cells}
    return Calibration.from_dict({"model_id": "what-if", "datasets": datasets})


def door(shared: Path) -> None:
    """Print face-only thresholds and genuine rates per variant, K and F (see the module docstring)."""
    engine = load_engine()
    owners: dict[str, list[str]] = {}
    described: dict[str, dict[str, Raw]] = {}

    def embed(chips: Chips) -> Raw:
        return np.concatenate([engine.embedder.embed(chips[i : i + 64]) for i in range(0, len(chips), 64)])

    for name, pick in DATASETS.items():
        owners[name], chips = chips_of(engine, shared / "datasets" / name, pick)
        mirrored = np.ascontiguousarray(chips[:, :, ::-1, :])
        plain, flipped = embed(chips), embed(mirrored)
        augmented = plain + flipped
        for change in AUGMENTATIONS.values():
            augmented = augmented + embed(moved(chips, **change)) + embed(moved(mirrored, **change))
        described[name] = {
            "plain": l2_normalise(plain),
            "flip": l2_normalise(plain + flipped),
            "flip + 6 moves": l2_normalise(augmented),
        }
    variants: list[tuple[str, str, str]] = [
        ("plain (shipped)", "plain", "plain"),
        ("flip the selfies only", "flip", "plain"),
        ("flip selfies and door frames", "flip", "flip"),
        ("flip + 6 moves, selfies only", "flip + 6 moves", "plain"),
        ("flip + 6 moves, both", "flip + 6 moves", "flip + 6 moves"),
    ]
    print(POLICY_TABLE_TITLE)
    for label, template_role, probe_role in variants:
        calibration = calibration_of(
            owners,
            {name: d[template_role] for name, d in described.items()},
            {name: d[probe_role] for name, d in described.items()},
        )
        print_policy(label, calibration, ((1, 1), (10, 1), (10, 2), (10, 3)))


POLICY_TABLE_TITLE = (
    "face-only threshold at standard and the share of genuine probes above it (east-asian-dev / LFW dev)"
)


def print_policy(label: str, calibration: Calibration, doors: Sequence[tuple[int, int]]) -> None:
    """Per K: the face-only threshold at each (N, F) of ``doors`` and each data set's genuine share above it."""
    policy = DoorPolicy(calibration)
    print(f"\n{label}")
    for k in range(1, 6):
        row = [f"  K={k}"]
        for n, f in doors:
            threshold = policy.face_only(SecurityLevel.STANDARD, n, k, f).threshold
            if threshold is None:
                row.append(f"N={n:<3d} F={f}: off            ")
                continue
            rates = [calibration.cell(name, k, f) for name in DATASETS]
            shares = " / ".join(f"{c.tar(threshold):.3f}" if c else "-" for c in rates)
            row.append(f"N={n:<3d} F={f}: {threshold:.3f} {shares}")
        claim = policy.claim(SecurityLevel.STANDARD, k, 1)
        row.append(f"claim F=1: {claim.threshold:.3f} {claim.expected_tar:.3f}")
        print(" | ".join(row))


def candidate(shared: Path, onnx_file: Path, mean: float, std: float, bgr: bool) -> None:
    """The door policy's table for another recognizer on facegate's own detection and ArcFace alignment.

    ``onnx_file`` takes (N, 3, 112, 112) float chips, (pixel - ``mean``) / ``std``, RGB unless ``bgr``, and
    returns one descriptor per chip.
    """
    import time

    import onnxruntime as ort

    engine = load_engine()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    name_in = session.get_inputs()[0].name

    def embed(chips: Chips) -> Raw:
        ordered = chips[..., ::-1] if bgr else chips
        rows = []
        for chip in ordered:
            tensor = ((chip.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
            rows.append(np.asarray(session.run(None, {name_in: np.ascontiguousarray(tensor)})[0][0], np.float32))
        return np.stack(rows)

    owners: dict[str, list[str]] = {}
    ours: dict[str, Raw] = {}
    theirs: dict[str, Raw] = {}
    seconds, count = 0.0, 0
    for name, pick in DATASETS.items():
        owners[name], chips = chips_of(engine, shared / "datasets" / name, pick)
        ours[name] = l2_normalise(
            np.concatenate([engine.embedder.embed(chips[i : i + 64]) for i in range(0, len(chips), 64)])
        )
        started = time.perf_counter()
        theirs[name] = l2_normalise(embed(chips))
        seconds += time.perf_counter() - started
        count += len(chips)
    print(f"{onnx_file.name}: {1000 * seconds / count:.1f} ms per face, one thread ({count} faces)")
    print(POLICY_TABLE_TITLE)
    doors = ((1, 1), (10, 1), (100, 1), (10, 2), (100, 2), (10, 3))
    print_policy("SFace (shipped)", calibration_of(owners, ours, ours), doors)
    print_policy(onnx_file.name, calibration_of(owners, theirs, theirs), doors)

    print("\nliveness consistency: BPCER of the photo proxy and splice APCER per min_consistency (seeds 0 and 1)")
    for name in DATASETS:
        photos = live.load_photos(engine, shared / "datasets" / name)
        redescribed = []
        for photo in photos:
            ((_, _, chip),) = engine.observe([photo.data])
            seen = photo.observation
            vector = l2_normalise(embed(chip[None]))[0]
            observation = FrameObservation(seen.landmarks, vector, seen.fingerprint, seen.step)
            redescribed.append(dataclasses.replace(photo, observation=observation))
        for label, group in (("SFace", photos), (onnx_file.name, redescribed)):
            bona_fide: list[live.Sequence3] = []
            splices: list[live.Sequence3] = []
            for seed in (0, 1):
                rng = random.Random(seed)
                bona_fide += live.bona_fide_sequences(group, rng)
                splices += live.splice_sequences(group, 300, rng)
            for consistency in (0.25, 0.3, 0.35, 0.4):
                thresholds = dataclasses.replace(LIVENESS_THRESHOLDS, min_consistency=consistency)
                refused, passed = trade_off(bona_fide, splices, thresholds)
                print(
                    f"  {name} {label} {consistency:.2f}: BPCER {refused}/{len(bona_fide)} = "
                    f"{refused / len(bona_fide):.3f}, splice {passed}/{len(splices)} = {passed / len(splices):.4f}"
                )


Photos = dict[str, list[live.Photo]]


def template_of(by_identity: Photos, identity: str, used: Sequence[live.Photo]) -> Raw | None:
    """The fused descriptor of up to three photos of ``identity`` not in ``used`` (None: no such photo)."""
    rest = [photo for photo in by_identity[identity] if photo not in used][:3]
    return fuse(np.stack([photo.observation.descriptor for photo in rest])) if rest else None


def accepted(
    sequence: live.Sequence3,
    identities: set[str],
    thresholds: LivenessThresholds,
    per_frame: float | None,
    by_identity: Photos,
) -> bool:
    """The liveness checks pass and, with ``per_frame``, every frame matches one of the identities' templates."""
    verdict = check_challenge(sequence.steps, sequence.observations(), (), thresholds)
    if not verdict.passed or per_frame is None:
        return bool(verdict.passed)
    templates = [t for i in identities if (t := template_of(by_identity, i, sequence.photos)) is not None]
    return any(all(float(p.observation.descriptor @ t) >= per_frame for p in sequence.photos) for t in templates)


def trade_off(
    bona_fide: Sequence[live.Sequence3],
    splices: Sequence[live.Sequence3],
    thresholds: LivenessThresholds,
    per_frame: float | None = None,
    by_identity: Photos | None = None,
) -> tuple[int, int]:
    """(bona fide sequences refused, splices accepted) under ``thresholds`` and, with ``per_frame``, the per-frame
    template match (templates from ``by_identity``)."""
    photos = by_identity or {}
    refused = sum(not accepted(s, {s.photos[0].identity}, thresholds, per_frame, photos) for s in bona_fide)
    passed = sum(accepted(s, {p.identity for p in s.photos}, thresholds, per_frame, photos) for s in splices)
    return refused, passed


def liveness(shared: Path, seeds: Sequence[int]) -> None:
    """Print BPCER of the proxy and splice APCER per consistency and per-frame template threshold."""
    engine = load_engine()
    for name in DATASETS:
        photos = live.load_photos(engine, shared / "datasets" / name)
        by_identity: Photos = {}
        for photo in photos:
            by_identity.setdefault(photo.identity, []).append(photo)
        bona_fide: list[live.Sequence3] = []
        splices: list[live.Sequence3] = []
        for seed in seeds:
            rng = random.Random(seed)
            bona_fide += [
                s
                for s in live.bona_fide_sequences(photos, rng)
                if template_of(by_identity, s.photos[0].identity, s.photos) is not None
            ]
            splices += [
                s
                for s in live.splice_sequences(photos, 300, rng)
                if all(template_of(by_identity, p.identity, s.photos) is not None for p in s.photos)
            ]
        print(f"\n{name}: consistency threshold x per-frame template threshold -> BPCER (proxy), splice APCER")
        for consistency in (0.4, 0.3, 0.2, 0.1):
            thresholds = dataclasses.replace(LIVENESS_THRESHOLDS, min_consistency=consistency)
            for per_frame in (None, 0.35, 0.454):
                refused, passed = trade_off(bona_fide, splices, thresholds, per_frame, by_identity)
                frame = "none " if per_frame is None else f"{per_frame:.3f}"
                print(
                    f"  consistency {consistency:.2f}, every frame vs template {frame}: "
                    f"BPCER {refused}/{len(bona_fide)} = {refused / len(bona_fide):.3f}, "
                    f"splice APCER {passed}/{len(splices)} = {passed / len(splices):.4f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("door", "liveness", "candidate"))
    parser.add_argument("--onnx", type=Path, help="candidate: the recognizer's ONNX file")
    parser.add_argument("--mean", type=float, default=127.5, help="candidate: input mean (127.5)")
    parser.add_argument("--std", type=float, default=127.5, help="candidate: input scale (127.5)")
    parser.add_argument("--bgr", action="store_true", help="candidate: the model takes BGR chips")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder holding datasets/")
    parser.add_argument("--seeds", default="0,1", help="liveness: seeds of the sequence draws")
    args = parser.parse_args()
    if not all((args.shared / "datasets" / name).is_dir() for name in DATASETS):
        sys.exit(f"{args.shared}/datasets needs {' and '.join(DATASETS)}")
    if args.what == "door":
        door(args.shared)
    elif args.what == "liveness":
        liveness(args.shared, [int(s) for s in args.seeds.split(",")])
    elif args.onnx is None or not args.onnx.is_file():
        sys.exit("candidate needs --onnx FILE")
    else:
        candidate(args.shared, args.onnx, args.mean, args.std, args.bgr)


if __name__ == "__main__":
    main()

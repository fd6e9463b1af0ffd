"""``facegate eval liveness``: presentation attacks generated from real faces, a bona fide proxy, APCER and BPCER.

ISO/IEC 30107-3 terms: APCER (per attack type) is the share of attack presentations the checks accept; BPCER
is the share of bona fide presentations they refuse. Everything is generated in memory from the images of a
folder-per-identity data set; nothing is written to disk.

Attack types (each a whole challenge: random steps from :func:`facegate.vision.liveness.random_steps`):

* ``planar``: a photo held as a plane in front of a pinhole camera (focal :data:`FOCAL_PX`), turned up to
  ±35° yaw and ±20° pitch with perspective, the sense of each turn chosen to fake the asked movement best;
  then blur, gamma, moiré and JPEG re-encoding, and re-detected by the real engine.
* ``still``: one photo repeated for every step with slight noise and JPEG re-encoding.
* ``replay``: the frames of an accepted bona fide challenge re-encoded and sent again for the same steps, with
  the original frames' replay keys remembered (each accepted challenge replayed up to
  :data:`REPLAYS_PER_SEQUENCE` times, each time re-encoded anew).
* ``splice``: a frontal photo of one person, then photos of another person whose landmarks show the asked
  movement.
* ``bent``: the planar attack with the photo bent along a vertical axis (a cylinder convex toward the camera,
  radius 0.6-2 eye distances), a cheap way to put the nose in front of the eyes.

Bona fide proxy: a near-frontal photo of one person followed by photos of the same person whose landmarks
show a clear movement (yaw index change at least :data:`REAL_YAW_MOVE`, pitch index change at least
:data:`REAL_PITCH_MOVE`), with the steps those movements answer. It is not a recorded video: photos of one
person were taken on different days, with other expressions, light and cameras, which makes consistency and
parallax noisier than in one head turn, and how far a real visitor turns when prompted is not measured here.

A frame in which the engine finds no face refuses the challenge (counted as refused; ``undetected`` says how
often).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from facegate.errors import FacegateError
from facegate.vision.align import bilinear_sample
from facegate.vision.engine import FaceEngine
from facegate.vision.liveness import (
    LIVENESS_THRESHOLDS,
    MOVEMENTS,
    FrameObservation,
    LivenessThresholds,
    LivenessVerdict,
    Movement,
    asked_change,
    challenge_parallax,
    check_challenge,
    consistency,
    fingerprint,
    hamming,
    pose_index,
    random_steps,
    replay_key,
)
from facegate.vision.types import ImageArray
from facegate_tools.evaluation.datasets import read_identities
from facegate_tools.evaluation.runner import progress

F64 = npt.NDArray[np.float64]

ATTACK_TYPES: Final = ("planar", "still", "replay", "splice", "bent")
CANVAS: Final = (640, 480)
"""Width and height of a simulated door camera frame, pixels."""
FOCAL_PX: Final = 550.0
"""Focal length of the simulated camera in pixels (about 60° horizontal field of view at 640 px)."""
MAX_PLANE_YAW: Final = 35.0
MAX_PLANE_PITCH: Final = 20.0
REAL_YAW_MOVE: Final = 0.3
"""Bona fide proxy: a yaw index change this large between two photos of one person is a real head turn."""
REAL_PITCH_MOVE: Final = 0.15
"""Bona fide proxy: the same for the pitch index."""
REPLAYS_PER_SEQUENCE: Final = 6
"""Each accepted bona fide challenge is replayed up to this many times (each a new re-encoding)."""
BUSY_DOOR_FRAMES: Final = 300
"""A busy door: the replay keys of this many frames of other people's accepted challenges are remembered
(about 100 challenges in the 5-10 minutes a door remembers them)."""
FRONTAL_YAW: Final = 0.15
"""Bona fide proxy and splice: a photo whose yaw index is at most this (in size) serves as the straight step."""


@dataclass(frozen=True, slots=True)
class Photo:
    """One data-set image seen by the engine."""

    identity: str
    path: Path
    data: bytes
    observation: FrameObservation
    """Observed at step 0 (the step is replaced when the photo is used)."""
    pose: tuple[float, float]
    eye_px: float
    """Eye distance in the image, pixels."""
    face_px: float
    """Face box height in the image, pixels."""


def _at_step(observation: FrameObservation, step: int) -> FrameObservation:
    return FrameObservation(observation.landmarks, observation.descriptor, observation.fingerprint, step)


def observe_frames(engine: FaceEngine, frames: Sequence[bytes]) -> list[FrameObservation] | None:
    """Frame observations (steps 0..n-1) as a door would make them; None when a frame shows no face."""
    try:
        seen = engine.observe(frames)
    except FacegateError:
        return None
    return [
        FrameObservation(detection.landmarks, descriptor, fingerprint(chip), step)
        for step, (detection, descriptor, chip) in enumerate(seen)
    ]


def load_photos(engine: FaceEngine, root: Path, max_identities: int | None = None) -> list[Photo]:
    """Every image of ``root`` with a face, observed once."""
    identities = read_identities(root)
    names = sorted(identities)[:max_identities] if max_identities else sorted(identities)
    items = [(name, path) for name in names for path in identities[name]]
    photos = []
    for name, path in progress(items, "faces    "):
        data = path.read_bytes()
        try:
            ((detection, descriptor, chip),) = engine.observe([data])
        except FacegateError:
            continue
        landmarks = np.asarray(detection.landmarks, dtype=np.float64)
        photos.append(
            Photo(
                identity=name,
                path=path,
                data=data,
                observation=FrameObservation(detection.landmarks, descriptor, fingerprint(chip), 0),
                pose=pose_index(landmarks),
                eye_px=float(np.hypot(*(landmarks[1] - landmarks[0]))),
                face_px=detection.box.height,
            )
        )
    return photos


# -- rendering a photo held in front of the camera ---------------------------------------------------------


def _rotation(yaw: float, pitch: float) -> F64:
    a, b = math.radians(yaw), math.radians(pitch)
    rot_y = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
    rotation: F64 = rot_x @ rot_y
    return rotation


@dataclass(frozen=True, slots=True)
class Pose3D:
    """Where the photo is held: turned by ``yaw``/``pitch`` degrees about its face centre, ``depth`` pixels from
    the camera (photo pixels are world units), face centre shifted by ``shift`` canvas pixels, bent into a
    cylinder of ``radius`` photo pixels (None = flat)."""

    yaw: float
    pitch: float
    depth: float
    shift: tuple[float, float]
    radius: float | None = None


def surface_points(points: F64, centre: tuple[float, float], pose: Pose3D) -> F64:
    """Canvas pixels of photo pixels ``points`` (N, 2) for the photo held at ``pose``."""
    s = points[:, 0] - centre[0]
    y = points[:, 1] - centre[1]
    if pose.radius is None:
        local = np.column_stack([s, y, np.zeros_like(s)])
    else:
        theta = s / pose.radius
        local = np.column_stack([pose.radius * np.sin(theta), y, pose.radius * (1.0 - np.cos(theta))])
    world = local @ _rotation(pose.yaw, pose.pitch).T + np.array([pose.shift[0], pose.shift[1], pose.depth])
    width, height = CANVAS
    projected: F64 = FOCAL_PX * world[:, :2] / world[:, 2:3] + np.array([width / 2.0, height / 2.0])
    return projected


def render(rgb: ImageArray, centre: tuple[float, float], pose: Pose3D, background: ImageArray) -> ImageArray:
    """The camera's view of the photo ``rgb`` held at ``pose`` in front of ``background`` (ray casting)."""
    width, height = CANVAS
    us, vs = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays = np.stack([(us - width / 2.0) / FOCAL_PX, (vs - height / 2.0) / FOCAL_PX, np.ones_like(us)], axis=-1)
    rotation = _rotation(pose.yaw, pose.pitch)
    origin = -rotation.T @ np.array([pose.shift[0], pose.shift[1], pose.depth])
    direction = rays @ rotation
    dx, dy, dz = direction[..., 0], direction[..., 1], direction[..., 2]
    ox, oy, oz = origin
    if pose.radius is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -oz / dz
        s = ox + t * dx
        valid = t > 0
    else:
        r = pose.radius
        a = dx * dx + dz * dz
        b = 2.0 * (ox * dx + (oz - r) * dz)
        c = ox * ox + (oz - r) ** 2 - r * r
        disc = b * b - 4.0 * a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (-b - root) / (2.0 * a)
        x = ox + t * dx
        z = oz + t * dz
        theta = np.arctan2(x, r - z)
        s = r * theta
        valid = (disc >= 0) & (t > 0) & (np.abs(theta) < math.pi / 2)
    y = oy + t * dy
    src_x = s + centre[0]
    src_y = y + centre[1]
    photo_h, photo_w = rgb.shape[:2]
    inside = valid & (src_x >= 0) & (src_x <= photo_w - 1) & (src_y >= 0) & (src_y <= photo_h - 1)
    out = background.copy()
    sampled = bilinear_sample(rgb, np.where(inside, src_x, 0.0), np.where(inside, src_y, 0.0))
    out[inside] = sampled[inside]
    return out


def degrade(rgb: ImageArray, rng: random.Random) -> bytes:
    """Blur, gamma, moiré (a fine grating beating with the pixel grid, as a screen filmed) and JPEG re-encoding."""
    image = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.5)))
    values = np.asarray(image).astype(np.float64) / 255.0
    values = values ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.5:
        height, width = values.shape[:2]
        angle = rng.uniform(0.0, math.pi)
        frequency = rng.uniform(0.3, 0.48)
        vs, us = np.mgrid[0:height, 0:width]
        grating = np.sin(2 * math.pi * frequency * (us * math.cos(angle) + vs * math.sin(angle)))
        values = values + rng.uniform(0.02, 0.06) * grating[..., None]
    return _jpeg(np.clip(values * 255.0, 0, 255).astype(np.uint8), rng.randint(60, 92))


def _jpeg(rgb: ImageArray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode(data: bytes) -> ImageArray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _background(rng: random.Random) -> ImageArray:
    width, height = CANVAS
    base = np.full((height, width, 3), rng.randint(60, 200), dtype=np.float64)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def held_photo_frames(photo: Photo, steps: Sequence[Movement], rng: random.Random, bent: bool) -> list[bytes]:
    """Frames of ``photo`` held in front of the camera for ``steps``: each movement step turns the photo (up to
    the maximum angles, at least half of them on the asked axis) in whichever sense fakes the asked change best,
    judged on the photo's own landmarks projected like the camera would (an attacker watching the preview)."""
    rgb = _decode(photo.data)
    landmarks = np.asarray(photo.observation.landmarks, dtype=np.float64)
    centre = (float(landmarks[:, 0].mean()), float(landmarks[:, 1].mean()))
    target_face = rng.uniform(150.0, 260.0)
    depth = FOCAL_PX * photo.face_px / target_face
    radius = rng.uniform(0.6, 2.0) * photo.eye_px if bent else None
    background = _background(rng)
    frames: list[bytes] = []
    previous_pose = Pose3D(rng.uniform(-5, 5), rng.uniform(-5, 5), depth, (rng.uniform(-30, 30), 0.0), radius)
    previous_index = pose_index(surface_points(landmarks, centre, previous_pose))
    for number, step in enumerate(steps):
        if number == 0:
            pose = previous_pose
        else:
            axis, sense = asked_change(steps[number - 1], step)
            candidates = []
            for sign in (-1.0, 1.0):
                yaw = rng.uniform(0.5, 1.0) * MAX_PLANE_YAW
                pitch = rng.uniform(0.5, 1.0) * MAX_PLANE_PITCH
                angles = (
                    (sign * yaw, rng.uniform(-1, 1) * pitch) if axis == 0 else (rng.uniform(-1, 1) * yaw, sign * pitch)
                )
                pose = Pose3D(
                    angles[0],
                    angles[1],
                    depth * rng.uniform(0.9, 1.1),
                    (rng.uniform(-30, 30), rng.uniform(-20, 20)),
                    radius,
                )
                index = pose_index(surface_points(landmarks, centre, pose))
                candidates.append((sense * (index[axis] - previous_index[axis]), pose, index))
            _, pose, previous_index = max(candidates, key=lambda item: item[0])
        frames.append(degrade(render(rgb, centre, pose, background), rng))
    return frames


def still_frames(photo: Photo, count: int, rng: random.Random) -> list[bytes]:
    """``photo`` repeated ``count`` times, each copy with slight noise and its own JPEG re-encoding."""
    rgb = _decode(photo.data).astype(np.float64)
    generator = np.random.default_rng(rng.randint(0, 2**31))
    return [
        _jpeg(np.clip(rgb + generator.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8), rng.randint(70, 95))
        for _ in range(count)
    ]


# -- sequences ------------------------------------------------------------------------------------------------


def _movement(change: tuple[float, float], previous: Movement, rng: random.Random) -> Movement | None:
    """A step that a pose change between two photos clearly answers after step ``previous`` (a random one of
    several), or None."""
    options = []
    for step in (*MOVEMENTS, Movement.STRAIGHT):
        if step == previous:
            continue
        axis, sense = asked_change(previous, step)
        if sense * change[axis] >= (REAL_YAW_MOVE, REAL_PITCH_MOVE)[axis]:
            options.append(step)
    return rng.choice(options) if options else None


@dataclass(frozen=True, slots=True)
class Sequence3:
    """A challenge answered by data-set photos: the steps and one photo per step."""

    steps: tuple[Movement, ...]
    photos: tuple[Photo, ...]

    def observations(self) -> list[FrameObservation]:
        return [_at_step(photo.observation, step) for step, photo in enumerate(self.photos)]


def _change(a: Photo, b: Photo) -> tuple[float, float]:
    return b.pose[0] - a.pose[0], b.pose[1] - a.pose[1]


def bona_fide_sequences(photos: Sequence[Photo], rng: random.Random) -> list[Sequence3]:
    """Per identity, every near-frontal photo followed by a photo of the same person that shows a clear movement
    (two steps), extended half the time by a third photo that shows a clear movement from the second."""
    by_identity: dict[str, list[Photo]] = {}
    for photo in photos:
        by_identity.setdefault(photo.identity, []).append(photo)
    sequences = []
    for group in by_identity.values():
        for first in group:
            if abs(first.pose[0]) > FRONTAL_YAW:
                continue
            for second in group:
                if second is first:
                    continue
                move = _movement(_change(first, second), Movement.STRAIGHT, rng)
                if move is None:
                    continue
                steps, chosen = [Movement.STRAIGHT, move], [first, second]
                if rng.random() < 0.5:
                    thirds = [
                        (third, step)
                        for third in group
                        if third is not first and third is not second
                        for step in [_movement(_change(second, third), move, rng)]
                        if step is not None
                    ]
                    if thirds:
                        third, step = rng.choice(thirds)
                        steps.append(step)
                        chosen.append(third)
                sequences.append(Sequence3(tuple(steps), tuple(chosen)))
    return sequences


def splice_sequences(photos: Sequence[Photo], count: int, rng: random.Random) -> list[Sequence3]:
    """``count`` challenges answered by a near-frontal photo of one person, then a photo of someone else showing
    the asked movement relative to it (the splicer picks the best-fitting photo)."""
    frontal = [photo for photo in photos if abs(photo.pose[0]) <= FRONTAL_YAW]
    sequences: list[Sequence3] = []
    attempts = 0
    while len(sequences) < count and frontal and attempts < 50 * count:
        attempts += 1
        first = rng.choice(frontal)
        others = [
            (photo, move)
            for photo in rng.sample(list(photos), min(len(photos), 200))
            if photo.identity != first.identity
            for move in [_movement(_change(first, photo), Movement.STRAIGHT, rng)]
            if move is not None
        ]
        if others:
            other, move = rng.choice(others)
            sequences.append(Sequence3((Movement.STRAIGHT, move), (first, other)))
    return sequences


# -- the evaluation -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of one presentation type."""

    total: int = 0
    accepted: int = 0
    undetected: int = 0

    def add(self, verdict: LivenessVerdict | None) -> None:
        self.total += 1
        if verdict is None:
            self.undetected += 1
        elif verdict.passed:
            self.accepted += 1


def rate(part: int, total: int) -> float | None:
    """``part / total`` to four decimals, None when ``total`` is 0."""
    return round(part / total, 4) if total else None


def _quantiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {
        "min": round(float(array.min()), 4),
        "p01": round(float(np.quantile(array, 0.01)), 4),
        "p05": round(float(np.quantile(array, 0.05)), 4),
        "median": round(float(np.median(array)), 4),
        "p95": round(float(np.quantile(array, 0.95)), 4),
        "p99": round(float(np.quantile(array, 0.99)), 4),
        "max": round(float(array.max()), 4),
    }


class Measures:
    """The raw values the thresholds are set from, per presentation type."""

    def __init__(self) -> None:
        self.asked_yaw: dict[str, list[float]] = {}
        self.asked_pitch: dict[str, list[float]] = {}
        self.parallax: dict[str, list[float]] = {}
        self.consistency: dict[str, list[float]] = {}
        self.hamming_seen: dict[str, list[float]] = {}
        self.hamming_steps: dict[str, list[float]] = {}
        self.reasons: dict[str, dict[str, int]] = {}

    def add(
        self,
        kind: str,
        steps: Sequence[Movement],
        frames: Sequence[FrameObservation],
        verdict: LivenessVerdict,
        seen: Sequence[bytes | int] = (),
    ) -> None:
        reasons = self.reasons.setdefault(kind, {})
        key = verdict.reason or "passed"
        reasons[key] = reasons.get(key, 0) + 1
        by_step = [[f for f in frames if f.step == i] for i in range(len(steps))]
        poses = np.array([np.median([pose_index(f.landmarks) for f in group], axis=0) for group in by_step])
        for i, (axis, sense) in enumerate(asked_change(a, b) for a, b in itertools.pairwise(steps)):
            target = self.asked_yaw if axis == 0 else self.asked_pitch
            target.setdefault(kind, []).append(sense * float(poses[i + 1][axis] - poses[i][axis]))
        landmarks = [[np.asarray(f.landmarks, dtype=np.float64) for f in group] for group in by_step]
        self.parallax.setdefault(kind, []).append(challenge_parallax(landmarks))
        self.consistency.setdefault(kind, []).append(consistency(by_step))
        self.hamming_steps.setdefault(kind, []).extend(
            float(hamming(a.fingerprint, b.fingerprint)) for a, b in itertools.pairwise(frames)
        )
        if seen:
            self.hamming_seen.setdefault(kind, []).extend(
                float(min(hamming(replay_key(f.descriptor), s) for s in seen)) for f in frames
            )

    def report(self) -> dict[str, Any]:
        """Quantiles of every measured value per presentation type, and the reasons of the verdicts."""
        return {
            "asked_yaw_change_per_transition": {k: _quantiles(v) for k, v in self.asked_yaw.items()},
            "asked_pitch_change_per_transition": {k: _quantiles(v) for k, v in self.asked_pitch.items()},
            "parallax": {k: _quantiles(v) for k, v in self.parallax.items()},
            "consistency": {k: _quantiles(v) for k, v in self.consistency.items()},
            "hamming_consecutive_frames": {k: _quantiles(v) for k, v in self.hamming_steps.items()},
            "hamming_to_nearest_seen": {k: _quantiles(v) for k, v in self.hamming_seen.items()},
            "reasons": self.reasons,
        }

    def raw(self) -> dict[str, Any]:
        """Every measured value (for threshold setting)."""
        return {
            "asked_yaw": self.asked_yaw,
            "asked_pitch": self.asked_pitch,
            "parallax": self.parallax,
            "consistency": self.consistency,
            "hamming_steps": self.hamming_steps,
            "hamming_seen": self.hamming_seen,
        }


def evaluate_liveness(
    engine: FaceEngine,
    root: Path,
    seed: int = 0,
    thresholds: LivenessThresholds = LIVENESS_THRESHOLDS,
    max_sources: int = 300,
    max_identities: int | None = None,
    photos: Sequence[Photo] | None = None,
    raw: bool = False,
    keep: list[tuple[str, tuple[Movement, ...], list[FrameObservation], list[bytes | int]]] | None = None,
) -> dict[str, Any]:
    """APCER per attack type and BPCER over the images under ``root`` (folder per identity).

    Args:
        max_sources: at most this many photos (seeded draw) are rendered per rendered attack type (planar,
            bent, still), and at most this many replays and splices are made: rendering and re-detection cost
            about 0.1 s per frame.
        max_identities: only the first identities (sorted by name); for quick runs.
        photos: already observed photos of ``root`` (tests reuse them).
        raw: add every measured value under ``measures_raw``.
        keep: when given, every judged presentation is appended to it as (kind, steps, frames, seen), so that
            other thresholds can be tried without rendering again.
    """
    rng = random.Random(seed)
    photos = list(photos) if photos is not None else load_photos(engine, root, max_identities)
    tallies = {kind: Tally() for kind in ("bona_fide", "returning", "busy_door", *ATTACK_TYPES)}
    measures = Measures()
    by_pitch: dict[str, dict[str, Tally]] = {}

    def judge(
        kind: str, steps: Sequence[Movement], frames: list[FrameObservation] | None, seen: Sequence[bytes | int] = ()
    ) -> LivenessVerdict | None:
        verdict = None if frames is None else check_challenge(steps, frames, seen, thresholds)
        tallies[kind].add(verdict)
        if kind in ATTACK_TYPES:
            split = "with_pitch_step" if any(step in (Movement.UP, Movement.DOWN) for step in steps) else "yaw_only"
            by_pitch.setdefault(kind, {}).setdefault(split, Tally()).add(verdict)
        if frames is None or verdict is None:
            return None
        if keep is not None:
            keep.append((kind, tuple(steps), list(frames), list(seen)))
        measures.add(kind, steps, frames, verdict, seen)
        return verdict

    accepted: list[Sequence3] = []
    by_identity: dict[str, list[Photo]] = {}
    for photo in photos:
        by_identity.setdefault(photo.identity, []).append(photo)
    for sequence in progress(bona_fide_sequences(photos, rng), "bona fide"):
        verdict = judge("bona_fide", sequence.steps, sequence.observations())
        if verdict is not None and verdict.passed:
            accepted.append(sequence)
            others = by_identity[sequence.photos[0].identity]
            earlier = [_key(other) for other in others if other not in sequence.photos]
            judge("returning", sequence.steps, sequence.observations(), earlier)
            crowd = [photo for photo in photos if photo.identity != sequence.photos[0].identity]
            busy = [_key(photo) for photo in rng.sample(crowd, min(BUSY_DOOR_FRAMES, len(crowd)))]
            judge("busy_door", sequence.steps, sequence.observations(), busy)

    sources = rng.sample(photos, min(max_sources, len(photos)))
    for kind in ("planar", "bent"):
        for photo in progress(sources, f"{kind:9s}"):
            steps = random_steps(rng)
            frames = held_photo_frames(photo, steps, rng, bent=kind == "bent")
            judge(kind, steps, observe_frames(engine, frames))
    for photo in progress(sources, "still    "):
        steps = random_steps(rng)
        judge("still", steps, observe_frames(engine, still_frames(photo, len(steps), rng)))
    replays = [sequence for sequence in accepted for _ in range(REPLAYS_PER_SEQUENCE)]
    for sequence in progress(rng.sample(replays, min(max_sources, len(replays))), "replay   "):
        copies = [_reencode(photo.data, rng) for photo in sequence.photos]
        judge("replay", sequence.steps, observe_frames(engine, copies), [_key(photo) for photo in sequence.photos])
    for sequence in progress(splice_sequences(photos, max_sources, rng), "splice   "):
        judge("splice", sequence.steps, sequence.observations())

    attacks = {kind: tallies[kind] for kind in ATTACK_TYPES}
    bona = tallies["bona_fide"]
    report = {
        "root": str(root),
        "seed": seed,
        "model_id": engine.model_id,
        "thresholds": dataclasses.asdict(thresholds),
        "apcer": {kind: rate(t.accepted, t.total) for kind, t in attacks.items()},
        "bpcer": rate(bona.total - bona.accepted, bona.total),
        "n_attacks": {kind: t.total for kind, t in attacks.items()},
        "n_attacks_accepted": {kind: t.accepted for kind, t in attacks.items()},
        "apcer_by_challenge": {
            kind: {split: f"{t.accepted}/{t.total}" for split, t in sorted(splits.items())}
            for kind, splits in by_pitch.items()
        },
        "n_bona_fide": bona.total,
        "n_bona_fide_refused": bona.total - bona.accepted,
        "returning_visitor": {
            "refused_as_replayed": tallies["returning"].total - tallies["returning"].accepted,
            "n": tallies["returning"].total,
            "note": "accepted bona fide sequences checked again with the person's other photos as earlier frames",
        },
        "busy_door": {
            "refused_as_replayed": tallies["busy_door"].total - tallies["busy_door"].accepted,
            "n": tallies["busy_door"].total,
            "n_remembered_frames": BUSY_DOOR_FRAMES,
            "note": "accepted bona fide sequences checked again with other people's photos as earlier frames",
        },
        "undetected": {kind: t.undetected for kind, t in tallies.items()},
        "n_photos": len(photos),
        "measures": measures.report(),
        "caveat": PROXY_CAVEAT,
    }
    if raw:
        report["measures_raw"] = measures.raw()
    return report


PROXY_CAVEAT: Final = (
    "bona fide proxy: photos of one person taken on different days, not a recorded head turn; a field test "
    "should record real visitors following the prompts (how far they turn, motion blur, glasses, masks, light)"
)


def _key(photo: Photo) -> int:
    return replay_key(photo.observation.descriptor)


def _reencode(data: bytes, rng: random.Random) -> bytes:
    """A replayed frame: the original decoded, with slight noise, resized by up to 5% and re-encoded."""
    rgb = _decode(data)
    height, width = rgb.shape[:2]
    factor = rng.uniform(0.95, 1.05)
    resized = np.asarray(Image.fromarray(rgb).resize((round(width * factor), round(height * factor))))
    noisy = resized.astype(np.float64) + np.random.default_rng(rng.randint(0, 2**31)).normal(0, 2.0, resized.shape)
    return _jpeg(np.clip(noisy, 0, 255).astype(np.uint8), rng.randint(70, 95))


def print_table(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """The human-readable summary: APCER per attack type and BPCER with counts."""
    out(f"liveness on {report['root']} (seed {report['seed']}, {report['n_photos']} photos with a face)")
    for kind in ATTACK_TYPES:
        total = report["n_attacks"][kind]
        share = report["apcer"][kind]
        shown = "n/a" if share is None else f"{100 * share:.2f}%"
        split = ", ".join(f"{k} {v}" for k, v in report["apcer_by_challenge"].get(kind, {}).items())
        out(f"  APCER {kind:7s} {shown:>8s}  ({report['n_attacks_accepted'][kind]}/{total} accepted; {split})")
    bpcer = report["bpcer"]
    shown = "n/a" if bpcer is None else f"{100 * bpcer:.2f}%"
    out(f"  BPCER         {shown:>8s}  ({report['n_bona_fide_refused']}/{report['n_bona_fide']} refused)")
    for label, key in (("returning visitor", "returning_visitor"), ("busy door", "busy_door")):
        out(
            f"  {label}: {report[key]['refused_as_replayed']}/{report[key]['n']} accepted sequences refused as replayed"
        )
    out(f"  thresholds {report['thresholds']}")
    out(f"  note: {report['caveat']}")

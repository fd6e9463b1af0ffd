"""Liveness of a head-turn challenge from five landmarks per frame: pure checks, no model, no I/O.

A door challenge asks the visitor for a random sequence of head movements (e.g. straight → left → up) and
receives one or more frames per step. :func:`check_challenge` decides, before any matching, whether the frames
could come from a live head that followed the sequence, in this order:

1. every step has a frame (``too_few_frames``);
2. every frame shows the same person: the lowest descriptor cosine between frames of one step or of
   consecutive steps (:func:`consistency`) is at least :attr:`LivenessThresholds.min_consistency`
   (``different_people``);
3. the head moved as asked between consecutive steps: the pose index (:func:`pose_index`) changes along the
   asked axis, in the asked sense, by at least the measured minimum (``no_movement`` when no axis moved that
   much, ``wrong_direction`` when one did, but not as asked);
4. parallax: eyes and mouth corners lie near one plane, the nose tip stands in front of it. Between frames of a
   real head turn the nose leaves the homography that maps the other four points; a photo or a screen moved or
   tilted in front of the camera keeps all five on one homography up to landmark noise (``planar``);
5. no two frames of consecutive steps are near-duplicates (``duplicate_frames``, by :func:`fingerprint` of the
   chip), and the frames do not repeat an earlier challenge: a challenge every step of which has a frame whose
   :func:`replay_key` is within a few bits of a remembered key of an earlier challenge is ``replayed_frames``
   (one matching frame is not enough: a returning visitor's straight look can be as close to last time's as a
   re-encoded copy).

Directions are the visitor's own: ``LEFT`` is a turn to the visitor's left. Frames are the camera's raw,
unmirrored images (what ``drawImage`` of the video element gives, whatever the preview's CSS mirroring), so a
turn to the visitor's left moves the nose toward the image's right: the yaw index grows. ``UP`` is chin up:
the nose tip moves toward the eye line, the pitch index falls.

The thresholds are :data:`LIVENESS_THRESHOLDS`, measured with ``facegate eval liveness`` (docs/measurements.md,
"Liveness (issue 16)").
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from facegate.domain.models import Movement as Movement  # re-exported: the challenge steps are domain values
from facegate.vision.quality import FRONTAL_NOSE_RATIO, GREY_WEIGHTS
from facegate.vision.types import FloatArray, ImageArray

F64 = npt.NDArray[np.float64]


TOO_FEW_FRAMES: Final = "too_few_frames"
DIFFERENT_PEOPLE: Final = "different_people"
NO_MOVEMENT: Final = "no_movement"
WRONG_DIRECTION: Final = "wrong_direction"
PLANAR: Final = "planar"
DUPLICATE_FRAMES: Final = "duplicate_frames"
REPLAYED_FRAMES: Final = "replayed_frames"
REASONS: Final = (
    TOO_FEW_FRAMES,
    DIFFERENT_PEOPLE,
    NO_MOVEMENT,
    WRONG_DIRECTION,
    PLANAR,
    DUPLICATE_FRAMES,
    REPLAYED_FRAMES,
)
"""Every sub-reason of a refused challenge, in the order the checks run (audit only, never to the public)."""


@dataclass(frozen=True, slots=True)
class LivenessThresholds:
    """The numbers the checks compare with. Measured by ``facegate eval liveness`` on the dev sets only
    (``../shared/datasets/east-asian-dev`` and ``lfw-dev``); commands and counts in docs/measurements.md."""

    min_yaw_change: float = 0.2
    """Least change of the yaw index (:func:`pose_index`, nose offset over eye distance) between consecutive
    steps in the asked sense for ``LEFT``/``RIGHT`` (and ``STRAIGHT`` back from them). Measured (YuNet refined
    landmarks, photos held as planes turned up to 35 degrees and re-detected): the asked change per transition
    reaches p99 0.17 on east-asian-dev, 0.36 on LFW dev (each such LFW sequence fails another step); real
    changes between photos of one person are selected at 0.3 and more; a generic head turns 19 degrees for 0.2.
    At 0.25 a photo bent along a vertical axis is accepted a third as often (5/217, 5/289)."""
    min_pitch_change: float = 0.12
    """Least change of the pitch index between consecutive steps in the asked sense for ``UP``/``DOWN``.
    Measured: tilted flat photos reach 0.084 (east-asian-dev) and 0.077 (LFW dev), bent ones 0.138 and 0.090;
    a generic head nods 12 degrees for 0.12. Real nods are not measured (the dev sets hold one pitch change,
    and YuNet's landmarks move little when a head nods)."""
    min_parallax: float = 0.12
    """Least parallax (:func:`nose_parallax`, nose off the four-point homography over the eye distance,
    averaged over the challenge's transitions) of a live head. Measured: bona fide proxy sequences at least
    0.195 (east-asian-dev) and 0.289 (LFW dev); flat photos p95 0.115 and 0.151; a generic head gives about
    0.85 times its yaw index change. A second signal: on the dev corpora the movement check refuses every flat
    photo first."""
    duplicate_hamming: int = 3
    """Frames of consecutive steps whose fingerprints (:func:`fingerprint`, 63 bits) are at most this many bits
    apart are one frame sent twice. Measured: a still frame re-encoded moves a median 2 bits; consecutive
    proxy frames are at least 14 bits apart."""
    replay_hamming: int = 12
    """A frame whose :func:`replay_key` is at most this many bits from a remembered key of an earlier challenge
    repeats it; a challenge is replayed when every step has such a frame. Measured on east-asian-dev: a frame
    re-encoded and resized moves median 4 bits, p99 11, max 14 (`facegate eval liveness`, 288 replays); two
    photos of one person are this close in 7% of pairs, two people in 0.008% (a busy door with 600 remembered
    frames of other visitors refused 0 of 1,000 bona fide challenges; the 63-bit pHash of the chip used before
    refused 70% at 300 frames)."""
    min_consistency: float = 0.4
    """Least descriptor cosine between two frames of one step or of consecutive steps (:func:`consistency`).
    Measured: spliced sequences of two people reach 0.384 (east-asian-dev) and 0.393 (LFW dev); at 0.35 4/300
    and 1/300 were accepted. Photos of one person years and 30 degrees apart fall below it (BPCER of the proxy);
    frames of one sitting are more alike, not measured here."""


LIVENESS_THRESHOLDS: Final = LivenessThresholds()


@dataclass(frozen=True, slots=True)
class FrameObservation:
    """One frame of a challenge step, after detection.

    Attributes:
        landmarks: (5, 2) pixels in MTCNN order (left eye, right eye, nose tip, left and right mouth
            corner; left = image left), in the frame's own pixels.
        descriptor: the unit-norm embedding of the face.
        fingerprint: :func:`fingerprint` of the face chip (an int below 2**63; bytes are read big-endian).
        step: index of the challenge step this frame answers (0-based).
    """

    landmarks: FloatArray
    descriptor: FloatArray
    fingerprint: bytes | int
    step: int


@dataclass(frozen=True, slots=True)
class LivenessVerdict:
    """The outcome of :func:`check_challenge`.

    Attributes:
        passed: True when every check passed.
        reason: the first failed check's stable code (:data:`REASONS`), None when passed.
        yaw_change: the transition's yaw index change of largest magnitude (signed; + = toward the visitor's
            left), dimensionless.
        pitch_change: the same for the pitch index (+ = toward chin down).
        parallax: the challenge's parallax (:func:`challenge_parallax`), in eye distances.
    """

    passed: bool
    reason: str | None
    yaw_change: float
    pitch_change: float
    parallax: float

    def as_dict(self) -> dict[str, object]:
        """For the audit log (measured values rounded to 3 decimals)."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "yaw_change": round(self.yaw_change, 3),
            "pitch_change": round(self.pitch_change, 3),
            "parallax": round(self.parallax, 3),
        }


def _upright(landmarks: npt.ArrayLike) -> tuple[F64, float]:
    """Landmarks relative to the eye midpoint with the roll undone (eye line horizontal), and the eye distance."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.isfinite(points).all():
        raise ValueError("landmarks must be five finite points")
    eye_vector = points[1] - points[0]
    eye_distance = float(np.hypot(*eye_vector))
    if eye_distance == 0.0:
        return np.zeros((5, 2)), 0.0
    cos_r, sin_r = eye_vector / eye_distance
    unrotate = np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    return (points - (points[0] + points[1]) / 2.0) @ unrotate.T, eye_distance


def pose_index(landmarks: npt.ArrayLike) -> tuple[float, float]:
    """(yaw index, pitch index) of a face from its five landmarks, dimensionless, after undoing the roll.

    * yaw index: horizontal offset of the nose tip from the eye midpoint over the eye distance; 0 frontal,
      positive when the nose points to the image's right (in a raw camera frame: the visitor turned to their
      own left). A nose ``NOSE_DEPTH`` (half an eye distance) in front of the eyes gives ``0.5 * tan(yaw)``.
    * pitch index: the nose tip's position between the eye line (0) and the mouth line (1), minus the frontal
      median :data:`~facegate.vision.quality.FRONTAL_NOSE_RATIO`; positive when the chin goes down, negative
      when the visitor looks up (about ``0.48 * tan(pitch)`` for a generic face).

    Degenerate landmarks (eyes on one point, mouth on the eye line) give 0 for the undefined index.

    Raises:
        ValueError: the landmarks are not five finite points.
    """
    upright, eye_distance = _upright(landmarks)
    if eye_distance == 0.0:
        return 0.0, 0.0
    yaw = float(upright[2, 0]) / eye_distance
    mouth_drop = float(upright[3, 1] + upright[4, 1]) / 2.0
    pitch = float(upright[2, 1]) / mouth_drop - FRONTAL_NOSE_RATIO if mouth_drop > 0.0 else 0.0
    return yaw, pitch


def homography(src: npt.ArrayLike, dst: npt.ArrayLike) -> F64:
    """The 3x3 projective transform (``h33 = 1``) taking four points ``src`` exactly to ``dst``.

    Raises:
        ValueError: three of the points are collinear (no unique homography).
    """
    a = np.asarray(src, dtype=np.float64).reshape(4, 2)
    b = np.asarray(dst, dtype=np.float64).reshape(4, 2)
    rows = np.zeros((8, 8))
    rhs = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(a, b, strict=True)):
        rows[2 * i] = (x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y)
        rows[2 * i + 1] = (0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y)
        rhs[2 * i], rhs[2 * i + 1] = u, v
    try:
        solution = np.linalg.solve(rows, rhs)
    except np.linalg.LinAlgError as error:
        raise ValueError("no homography through collinear points") from error
    return np.append(solution, 1.0).reshape(3, 3)


_PLANE = [0, 1, 3, 4]


def nose_parallax(first: npt.ArrayLike, second: npt.ArrayLike) -> float:
    """How far the nose tip of ``second`` lies from where the homography of the other four landmarks (eyes, mouth
    corners) of ``first`` → ``second`` puts the nose of ``first``, over the mean eye distance of the two frames.

    Near 0 for a flat picture however it is moved or tilted (all five points on one plane); grows with the head
    rotation between the frames for a live head. Degenerate landmarks (three of the four points on a line, eyes
    on one point) give 0: they prove no depth.
    """
    a = np.asarray(first, dtype=np.float64).reshape(5, 2)
    b = np.asarray(second, dtype=np.float64).reshape(5, 2)
    scale = (float(np.hypot(*(a[1] - a[0]))) + float(np.hypot(*(b[1] - b[0])))) / 2.0
    try:
        matrix = homography(a[_PLANE], b[_PLANE])
    except ValueError:
        return 0.0
    mapped = matrix @ np.array([a[2, 0], a[2, 1], 1.0])
    if scale == 0.0 or abs(mapped[2]) < 1e-12:
        return 0.0
    return float(np.hypot(*(mapped[:2] / mapped[2] - b[2]))) / scale


FINGERPRINT_BITS: Final = 63
FINGERPRINT_GRID: Final = 32
"""Side of the box-averaged grey chip the fingerprint's cosine transform runs on."""


def _dct_matrix(size: int) -> F64:
    rows = np.arange(size)[:, None]
    cols = np.arange(size)[None, :]
    matrix: F64 = np.cos(np.pi * (2 * cols + 1) * rows / (2 * size))
    return matrix


_DCT: Final = _dct_matrix(FINGERPRINT_GRID)


def fingerprint(chip: ImageArray) -> int:
    """A 63-bit perceptual hash (pHash) of a face chip: the grey chip box-averaged to 32x32, its 2-D cosine
    transform, and one bit per low-frequency coefficient of the 8x8 corner but the constant one (1 when above
    their median). Compared by Hamming distance (:func:`hamming`). Chosen over a 64-bit difference hash by
    measurement (docs/measurements.md): at the distance that covers 99% of re-encoded, resized copies of a frame
    (12 bits), 11% of photos have another photo of the same person that close, against 27% with the dHash."""
    image = np.asarray(chip)
    grey = image.astype(np.float64) @ GREY_WEIGHTS if image.ndim == 3 else image.astype(np.float64)
    height, width = grey.shape
    rows = np.linspace(0, height, FINGERPRINT_GRID + 1).round().astype(int)
    cols = np.linspace(0, width, FINGERPRINT_GRID + 1).round().astype(int)
    sums = np.add.reduceat(np.add.reduceat(grey, rows[:-1], axis=0), cols[:-1], axis=1)
    cells = sums / np.outer(np.diff(rows), np.diff(cols))
    low = (_DCT @ cells @ _DCT.T)[:8, :8].ravel()[1:]
    bits = low > np.median(low)
    return int("".join("1" if bit else "0" for bit in bits), 2)


REPLAY_KEY_BITS: Final = 63
REPLAY_KEY_SEED: Final = 20261206
"""Seed of the random hyperplanes of :func:`replay_key` (the same on every instance, so keys remembered by
one function instance are comparable with another's)."""


@functools.cache
def _hyperplanes(dimension: int) -> F64:
    planes: F64 = np.random.default_rng(REPLAY_KEY_SEED).standard_normal((REPLAY_KEY_BITS, dimension))
    return planes


def replay_key(descriptor: npt.ArrayLike) -> int:
    """A 63-bit locality-sensitive hash (SimHash) of a face descriptor: one bit per fixed random hyperplane, set
    when the descriptor lies on its positive side. Keys of descriptors an angle θ apart differ in about
    63·θ/π bits, so a re-encoded copy of a frame (cosine 0.9-1.0) stays within a few bits, another photo of the
    same person rarely does, and another person's almost never. This is what a door remembers of accepted
    frames against replays (:attr:`LivenessThresholds.replay_hamming`): 63 signs, not the descriptor and not
    the image. An int below 2**63."""
    vector = np.asarray(descriptor, dtype=np.float64).ravel()
    bits = _hyperplanes(vector.size) @ vector > 0
    return int("".join("1" if bit else "0" for bit in bits), 2)


def hamming(a: bytes | int, b: bytes | int) -> int:
    """Bits in which two fingerprints differ."""
    return (_as_int(a) ^ _as_int(b)).bit_count()


def _as_int(value: bytes | int) -> int:
    return int.from_bytes(value, "big") if isinstance(value, bytes | bytearray) else int(value)


_AXIS: Final = {Movement.LEFT: (0, 1.0), Movement.RIGHT: (0, -1.0), Movement.UP: (1, -1.0), Movement.DOWN: (1, 1.0)}


def asked_change(previous: Movement, current: Movement) -> tuple[int, float]:
    """The axis (0 yaw, 1 pitch) and sense (+1/-1) of the pose index change that moving from step ``previous``
    to step ``current`` asks for. ``STRAIGHT`` after a movement asks for the way back.

    Raises:
        ValueError: two equal consecutive steps, or neither is a movement.
    """
    if previous == current:
        raise ValueError("consecutive challenge steps must differ")
    if current != Movement.STRAIGHT:
        return _AXIS[current]
    axis, sense = _AXIS[previous]
    return axis, -sense


MOVEMENTS: Final = (Movement.LEFT, Movement.RIGHT, Movement.UP, Movement.DOWN)


class StepChooser(Protocol):
    """What :func:`random_steps` needs of a random source (``random.Random``, ``secrets.SystemRandom()``)."""

    def choice(self, seq: Sequence[Movement], /) -> Movement: ...

    def random(self) -> float: ...


def random_steps(rng: StepChooser, movements: Sequence[Movement] = MOVEMENTS) -> tuple[Movement, ...]:
    """A challenge sequence: ``STRAIGHT``, a random movement, then with probability one half a third step (a
    different movement or ``STRAIGHT`` back). Use ``secrets.SystemRandom()`` at a door."""
    steps = [Movement.STRAIGHT, rng.choice(list(movements))]
    if rng.random() < 0.5:
        steps.append(rng.choice([m for m in (*movements, Movement.STRAIGHT) if m != steps[-1]]))
    return tuple(steps)


def challenge_parallax(steps_landmarks: Sequence[Sequence[F64]]) -> float:
    """The challenge's parallax: for each transition between consecutive steps, the median :func:`nose_parallax`
    over the pairs of a frame of one step and a frame of the next; then the mean over the transitions."""
    per_transition = []
    for before, after in itertools.pairwise(steps_landmarks):
        per_transition.append(float(np.median([nose_parallax(a, b) for a in before for b in after])))
    return float(np.mean(per_transition)) if per_transition else 0.0


def check_challenge(
    steps: Sequence[Movement],
    frames: Sequence[FrameObservation],
    seen_replay_keys: Collection[bytes | int] = (),
    thresholds: LivenessThresholds = LIVENESS_THRESHOLDS,
) -> LivenessVerdict:
    """Decide whether ``frames`` could be a live head following ``steps``; the checks run in the module's order.

    Args:
        steps: the challenge's sequence, 2 or more, no two consecutive equal.
        frames: every frame received, each naming its step; at least one per step.
        seen_replay_keys: :func:`replay_key` of the frames of earlier accepted challenges (a replay check).
        thresholds: the measured thresholds (tests and measurement pass others).

    Raises:
        ValueError: ``steps`` is shorter than 2 or repeats a step consecutively (a programming error of the
            caller, not of the visitor).
    """
    sequence = [Movement(step) for step in steps]
    if len(sequence) < 2:
        raise ValueError("a challenge has at least two steps")
    changes = [asked_change(a, b) for a, b in itertools.pairwise(sequence)]
    by_step: list[list[FrameObservation]] = [[] for _ in sequence]
    for frame in frames:
        if not 0 <= frame.step < len(sequence):
            return _refused(TOO_FEW_FRAMES)
        by_step[frame.step].append(frame)
    if any(not group for group in by_step):
        return _refused(TOO_FEW_FRAMES)

    if consistency(by_step) < thresholds.min_consistency:
        return _refused(DIFFERENT_PEOPLE)

    landmarks = [[np.asarray(frame.landmarks, dtype=np.float64).reshape(5, 2) for frame in group] for group in by_step]
    poses = np.array([np.median([pose_index(points) for points in group], axis=0) for group in landmarks])
    deltas = np.diff(poses, axis=0)
    yaw_change = float(deltas[np.argmax(np.abs(deltas[:, 0])), 0])
    pitch_change = float(deltas[np.argmax(np.abs(deltas[:, 1])), 1])
    parallax = challenge_parallax(landmarks)
    minimum = (thresholds.min_yaw_change, thresholds.min_pitch_change)

    def verdict(reason: str | None) -> LivenessVerdict:
        return LivenessVerdict(reason is None, reason, yaw_change, pitch_change, parallax)

    for delta, (axis, sense) in zip(deltas, changes, strict=True):
        if sense * float(delta[axis]) >= minimum[axis]:
            continue
        moved = abs(float(delta[0])) >= minimum[0] or abs(float(delta[1])) >= minimum[1]
        return verdict(WRONG_DIRECTION if moved else NO_MOVEMENT)

    if not parallax >= thresholds.min_parallax:
        return verdict(PLANAR)

    for before, after in itertools.pairwise(by_step):
        if any(hamming(a.fingerprint, b.fingerprint) <= thresholds.duplicate_hamming for a in before for b in after):
            return verdict(DUPLICATE_FRAMES)
    seen = [_as_int(value) for value in seen_replay_keys]
    keys = [[replay_key(frame.descriptor) for frame in group] for group in by_step] if seen else []
    if seen and all(
        any(hamming(key, old) <= thresholds.replay_hamming for key in group for old in seen) for group in keys
    ):
        return verdict(REPLAYED_FRAMES)
    return verdict(None)


def consistency(by_step: Sequence[Sequence[FrameObservation]]) -> float:
    """The lowest descriptor cosine between two frames of one step or of consecutive steps (1.0 for a single
    frame). A change of person anywhere in the sequence happens within a step or between consecutive steps, and
    these pairs differ least in pose (a turn to the left and one to the right two steps later are not
    compared)."""
    lowest = 1.0
    vectors = [[np.asarray(frame.descriptor, dtype=np.float64) for frame in group] for group in by_step]
    for index, group in enumerate(vectors):
        neighbours = group + (vectors[index + 1] if index + 1 < len(vectors) else [])
        for i, a in enumerate(group):
            for b in neighbours[i + 1 :]:
                lowest = min(lowest, float(a @ b))
    return lowest


def _refused(reason: str) -> LivenessVerdict:
    return LivenessVerdict(False, reason, 0.0, 0.0, 0.0)

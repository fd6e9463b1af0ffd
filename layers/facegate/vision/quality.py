"""Face quality: size, sharpness, exposure and head pose of one detected face.

Pure functions on numpy arrays. Inputs are a :class:`~facegate.vision.types.Detection` made on
the decoded working image, the face's aligned chip (dlib geometry, 150x150, padding 0.25, as
:func:`facegate.vision.align.align_face` cuts it) and the decode ``scale`` (working pixels per
original pixel), so that face size is judged in pixels of the image the client sent.

Pose from five landmarks (:func:`estimate_pose`) uses a weak-perspective model of a generic
face; see its docstring for the geometry and its limits.

The default thresholds were chosen by measurement (``scripts/measure_quality.py``) on the 1549
LFW dev images (good-quality press photos: enrollment should refuse very few of them) and on
the 16 edge-case images of ``../shared/datasets/edge``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from facegate.vision.types import Detection, ImageArray, QualityReport

F64 = npt.NDArray[np.float64]

FACE_TOO_SMALL: Final = "face_too_small"
TOO_BLURRY: Final = "too_blurry"
TOO_DARK: Final = "too_dark"
OVEREXPOSED: Final = "overexposed"
POSE_TOO_FAR: Final = "pose_too_far"
ISSUE_ORDER: Final = (FACE_TOO_SMALL, TOO_BLURRY, TOO_DARK, OVEREXPOSED, POSE_TOO_FAR)
"""Refusal codes in priority order (the first one is what a user is told to fix first)."""

INNER_FACE: Final = (0.27, 0.22, 0.73, 0.78)
"""Inner face region of the aligned chip as fractions (left, top, right, bottom) of its side:
eyes, nose and mouth, without background or hair (150x150 chip: x 40-110, y 33-117)."""

EYE_BAND: Final = (0.27, 0.2, 0.73, 0.4)
"""Eyes and brows (150x150 chip: x 40-110, y 30-60)."""
LOWER_FACE: Final = (0.35, 0.63, 0.65, 0.83)
"""Mouth and chin (150x150 chip: x 52-98, y 95-125)."""

LOWER_FACE_COVERED: Final = "lower_face_covered"
"""Non-refusing flag: the mouth and chin look covered (a mask)."""
COVERED_TEXTURE_RATIO: Final = 0.085
""":func:`lower_face_texture` below this raises :data:`LOWER_FACE_COVERED`. Measured with YuNet
landmarks (``scripts/measure_quality.py``): the three masked faces of the edge set 0.010, 0.010 and
0.060 (KF94, head turned 28 degrees); LFW dev faces at least 0.122 (none flagged); the unmasked edge
faces at least 0.156. 0.085 sits near the geometric middle of 0.060 and 0.122."""

HEAD_TILTED: Final = "head_tilted"
"""Non-refusing flag: the face looks tilted up or down (:func:`foreshortening_pitch`)."""
TILT_FLAG_DEGREES: Final = 33.0
""":func:`foreshortening_pitch` at or above this raises :data:`HEAD_TILTED`. Measured with YuNet's refined
landmarks (``scripts/measure_quality.py``): the edge set's looking-down portrait 35.8, the KF94 mask selfie
34.7, every other edge face at most 28.3; LFW dev median 14.8, 99th percentile 32.8, 14 of 1549 faces at
33 or more (0.9%). A flag, not a gate: eye-to-mouth foreshortening also varies from face to face."""

GREY_WEIGHTS: Final = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights of R, G and B."""

NOSE_DEPTH: Final = 1.0
"""Depth of the nose tip in front of the eyes and mouth corners, in half inter-ocular
distances. Calibrated on the LFW dev faces from the foreshortening of the eye distance, which
shrinks as cos(yaw) relative to the eye-mouth distance, against the nose offset ``NOSE_DEPTH *
tan(yaw)``: least squares over the turned faces (offset over 0.2 half eye distances). Re-measured
with YuNet's refined landmarks (``scripts/measure_quality.py``, 748 turned LFW dev faces): 1.00, as
with MTCNN's (a fit over all faces is degenerate: frontal faces show no foreshortening)."""
FRONTAL_NOSE_RATIO: Final = 0.558
"""Vertical position of the nose tip between the eye line (0) and the mouth line (1) on a
frontal face: median over the 1549 LFW dev faces, YuNet's refined landmarks (MTCNN's gave 0.538;
``scripts/measure_quality.py``)."""
FRONTAL_MOUTH_DROP: Final = 2.084
"""Eye line to mouth line distance in half inter-ocular distances on a frontal face: median
over the 1549 LFW dev faces, YuNet's refined landmarks (MTCNN's gave 2.18;
``scripts/measure_quality.py``)."""

SHADOW_LEVEL: Final = 16
"""Grey level at or below which an inner-face pixel counts as clipped to black."""
HIGHLIGHT_LEVEL: Final = 245
"""Grey level at or above which an inner-face pixel counts as clipped to white."""


def estimate_pose(landmarks: npt.ArrayLike) -> tuple[float, float, float]:
    """Head pose (yaw, pitch, roll) in degrees from the detector's five landmarks.

    Geometry (weak perspective: the face is far from the camera compared with its depth):

    * roll is the angle of the eye line, ``atan2(dy, dx)`` from the left to the right eye;
      positive when the eye on the image's right is lower (clockwise in the image, y down).
      Range (-180, 180]. The other two angles are measured after undoing the roll.
    * yaw: the eye centres and mouth corners lie on the face plane, the nose tip stands
      ``NOSE_DEPTH`` half inter-ocular distances in front of it. Turning the head by ``yaw``
      shifts the nose tip sideways from the face's midline (through the midpoints of the eyes
      and of the mouth corners) by ``NOSE_DEPTH * sin(yaw)`` while the half eye distance
      shrinks to ``cos(yaw)``, so ``yaw = atan2(offset, NOSE_DEPTH * half_eye_distance)``.
      Positive when the nose points to the image's right.
    * pitch: the nose tip's position between the eye line (0) and the mouth line (1) is
      ``FRONTAL_NOSE_RATIO + NOSE_DEPTH / FRONTAL_MOUTH_DROP * tan(pitch)``. Positive when the
      head is tilted down (the nose tip moves toward the mouth line).

    Limits: a generic face model. Individual nose length and expression (open mouths and
    smiles move the mouth corners) bias pitch most: on the LFW dev faces, which are mostly
    level, YuNet's refined landmarks give pitch from -9 to +8 degrees (1st to 99th percentile)
    against -42 to +39 for yaw; they barely move when a head nods, so a head tilted down reads
    a small pitch (the edge set's looking-down portrait: 7 degrees). Detector landmarks drift
    toward the frontal layout on strong profiles, so large angles are underestimated (a
    near-full profile reads about 59 degrees); beyond about 45 degrees the values only mean
    "far from frontal". A head both turned and nodding tilts its
    eye line by about ``atan(tan(yaw) * sin(pitch))``, which reads as roll (7 degrees at yaw
    25, pitch 15). An upside-down face reads as roll near 180 with the same yaw and pitch.
    Degenerate landmarks (eyes on top of each other, mouth on the eye line) give yaw or pitch
    of +-90 or 0, never an error.

    Args:
        landmarks: (5, 2) pixel coordinates in YuNet's order: left eye, right eye, nose tip, left
            mouth corner, right mouth corner (left = image left).

    Returns:
        (yaw, pitch, roll) in degrees; yaw and pitch in [-90, 90], roll in [-180, 180].

    Raises:
        ValueError: the landmarks are not five finite points.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.isfinite(points).all():
        raise ValueError("landmarks must be finite")
    left_eye, right_eye = points[0], points[1]
    eye_vector = right_eye - left_eye
    roll = math.atan2(eye_vector[1], eye_vector[0])
    cos_r, sin_r = math.cos(roll), math.sin(roll)
    unrotate = np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    upright = (points - (left_eye + right_eye) / 2.0) @ unrotate.T
    half_eye = float(np.hypot(*eye_vector)) / 2.0
    nose = upright[2]
    mouth = (upright[3] + upright[4]) / 2.0
    mouth_drop = float(mouth[1])

    if mouth_drop > 0.0:
        nose_ratio = float(nose[1]) / mouth_drop
        midline_x = nose_ratio * float(mouth[0])
        pitch = math.atan((nose_ratio - FRONTAL_NOSE_RATIO) * FRONTAL_MOUTH_DROP / NOSE_DEPTH)
    else:
        midline_x = float(mouth[0])
        pitch = math.copysign(math.pi / 2.0, float(nose[1]) - mouth_drop * FRONTAL_NOSE_RATIO)
    yaw = math.atan2(float(nose[0]) - midline_x, NOSE_DEPTH * half_eye)
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def foreshortening_pitch(landmarks: npt.ArrayLike) -> float:
    """Head tilt (up or down, unsigned) in degrees from how much shorter the eye-to-mouth distance is than
    on a frontal face: ``cos(tilt) = (mouth drop / half eye distance) * cos(yaw) / FRONTAL_MOUTH_DROP``.

    The nose-based pitch of :func:`estimate_pose` barely moves when a head nods with five detector
    landmarks; the foreshortening does, at the price of face-to-face variation. Range [0, 90].
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    yaw, _, roll = estimate_pose(points)
    cos_r, sin_r = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    unrotate = np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    upright = (points - (points[0] + points[1]) / 2.0) @ unrotate.T
    half_eye = float(np.hypot(*(points[1] - points[0]))) / 2.0
    if half_eye == 0.0:
        return 0.0
    mouth_drop = float((upright[3][1] + upright[4][1]) / 2.0)
    ratio = mouth_drop / half_eye * math.cos(math.radians(yaw)) / FRONTAL_MOUTH_DROP
    return math.degrees(math.acos(min(1.0, max(-1.0, ratio))))


def region(chip_rgb: ImageArray, fractions: tuple[float, float, float, float]) -> ImageArray:
    """The part of a chip given as fractions (left, top, right, bottom) of its width and height."""
    height, width = chip_rgb.shape[:2]
    left, top, right, bottom = fractions
    return chip_rgb[round(top * height) : round(bottom * height), round(left * width) : round(right * width)]


def grey(rgb: ImageArray) -> F64:
    """BT.601 luma of an RGB array, float64 in [0, 255]."""
    luma: F64 = np.asarray(rgb, dtype=np.float64) @ GREY_WEIGHTS
    return luma


def laplacian_variance(grey_image: F64) -> float:
    """Variance of the 4-neighbour Laplacian of a grey image (0 for images under 3x3 pixels)."""
    g = grey_image
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    laplacian = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(laplacian.var())


def sharpness(chip_rgb: ImageArray) -> float:
    """Variance of the 4-neighbour Laplacian of the grey inner face region.

    Args:
        chip_rgb: uint8 (H, W, 3) aligned chip (150x150 for the default thresholds).

    Returns:
        Variance in grey levels squared, >= 0 (higher = sharper; a flat region gives 0).
    """
    return laplacian_variance(grey(region(chip_rgb, INNER_FACE)))


def brightness(chip_rgb: ImageArray) -> float:
    """Mean grey level of the inner face region, in [0, 255].

    The mean depends on skin tone as much as on exposure: the darkest well-lit LFW faces are
    dark-skinned people at 56-75, so the ``too_dark`` limits sit far below that.
    """
    return float(grey(region(chip_rgb, INNER_FACE)).mean())


def clipping(chip_rgb: ImageArray) -> tuple[float, float]:
    """Fractions in [0, 1] of inner-face pixels clipped to black and to white.

    Returns:
        (fraction at or below :data:`SHADOW_LEVEL`, fraction at or above :data:`HIGHLIGHT_LEVEL`).
    """
    g = grey(region(chip_rgb, INNER_FACE))
    return float((g <= SHADOW_LEVEL).mean()), float((g >= HIGHLIGHT_LEVEL).mean())


def lower_face_texture(chip_rgb: ImageArray) -> float:
    """Texture of the mouth and chin relative to the eye band: ratio of Laplacian variances.

    Lips, teeth, skin folds and beards give the lower face about as much fine texture as the
    eyes (LFW dev: median 1.05, minimum 0.13, the lowest ones behind glasses); a mask's smooth
    fabric gives almost none (0.010-0.026 on the three masked faces of the edge set).

    Returns:
        Ratio >= 0; 1.0 when both regions are flat.
    """
    lower = laplacian_variance(grey(region(chip_rgb, LOWER_FACE)))
    eyes = laplacian_variance(grey(region(chip_rgb, EYE_BAND)))
    if eyes == 0.0:
        return 1.0 if lower == 0.0 else math.inf
    return lower / eyes


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Refusal limits of :func:`assess`.

    Attributes:
        min_face_px: smallest inter-ocular distance, pixels of the original image.
        min_face_fraction: smallest inter-ocular distance as a fraction of the image's shorter
            side (0-1; 0 disables the framing gate).
        min_sharpness: smallest :func:`sharpness` of the chip (grey levels squared).
        min_brightness: darkest accepted :func:`brightness` (0-255).
        max_brightness: brightest accepted :func:`brightness` (0-255).
        max_highlights: largest accepted fraction of clipped-white inner-face pixels (0-1).
        max_yaw, max_pitch, max_roll: largest accepted absolute angles, degrees.
    """

    min_face_px: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_highlights: float
    max_yaw: float
    max_pitch: float
    max_roll: float
    min_face_fraction: float = 0.0


ENROLL_THRESHOLDS: Final = QualityThresholds(
    min_face_px=30.0,
    min_sharpness=12.0,
    min_brightness=40.0,
    max_brightness=225.0,
    max_highlights=0.25,
    max_yaw=30.0,
    max_pitch=35.0,
    max_roll=30.0,
    min_face_fraction=0.085,
)
"""Enrollment selfies: the template is only as good as these images, and the visitor can retake
at once. Re-measured for YuNet's refined landmarks on the 1549 LFW dev faces
(``.venv/bin/python scripts/measure_quality.py``; the limits were kept, their meaning is physical and
the pose model was re-calibrated): refused 8.6% (MTCNN: 8.0%) — yaw over 30 degrees 7.2% (visibly
turned heads), sharpness under 12 1.7% (visibly blurred faces), inter-ocular distance under 30 px
1.2%, pitch over 35 0% (pitch is the least reliable angle), roll over 30 0%, brightness outside
40-225 0%. Framing (inter-ocular distance under 0.085 of the shorter image side: the person stood too
far from the camera, as in a full-body shot; ``scripts/measure_framing.py``): LFW dev 3 of 1549 largest
faces (0.2%, minimum 0.063), east-asian-dev web photos 14 of 223 (6.3%, none of them selfies), the edge
set's full-body shot 0.081 and its 3/4 profile 0.083 (a turned head shows less eye distance). An arm's-length
phone selfie is about 0.10-0.14 (6.3 cm between the eyes, 50-60 cm from a 50-60 degree front camera);
a face filling the visitor page's oval guide about 0.25."""

PROBE_THRESHOLDS: Final = QualityThresholds(
    min_face_px=20.0,
    min_sharpness=6.0,
    min_brightness=25.0,
    max_brightness=235.0,
    max_highlights=0.40,
    max_yaw=45.0,
    max_pitch=40.0,
    max_roll=45.0,
)
"""Door frames: laxer, because a refused frame costs a retry at the door and the matcher's
threshold and margin still guard the decision. Refuses 1.2% of the LFW dev faces with YuNet's
landmarks (yaw over 45 degrees 1.0%, blur 0.3%, size 0.1%; MTCNN's: 0.7%;
``scripts/measure_quality.py``)."""


def assess(
    detection: Detection,
    chip: ImageArray,
    scale: float,
    thresholds: QualityThresholds,
    occlusion_chip: ImageArray | None = None,
    image_short_side_px: float | None = None,
) -> QualityReport:
    """Measure one face and list the quality gates it fails.

    Args:
        detection: the face, in pixels of the decoded working image.
        chip: its aligned uint8 chip (150x150 RGB).
        scale: working pixels per original pixel (``DecodedImage.scale``, in (0, 1]).
        thresholds: :data:`ENROLL_THRESHOLDS`, :data:`PROBE_THRESHOLDS` or custom limits.
        occlusion_chip: the face's template-route chip, for the mask check (optional).
        image_short_side_px: the original image's shorter side in pixels, for the framing gate
            (``thresholds.min_face_fraction``); without it the gate is not applied.

    Returns:
        The report; ``face_size_px`` (inter-ocular distance) and ``box_height_px`` are in
        pixels of the original image, issues follow :data:`ISSUE_ORDER`, flags may hold
        :data:`LOWER_FACE_COVERED` (never a refusal).

    Raises:
        ValueError: ``scale`` is not positive.
    """
    if not scale > 0.0:
        raise ValueError("scale must be positive")
    landmarks = np.asarray(detection.landmarks, dtype=np.float64).reshape(5, 2)
    face_size = float(np.hypot(*(landmarks[1] - landmarks[0]))) / scale
    chip_sharpness = sharpness(chip)
    chip_brightness = brightness(chip)
    _, highlights = clipping(chip)
    yaw, pitch, roll = estimate_pose(landmarks)
    covered = occlusion_chip is not None and lower_face_texture(occlusion_chip) < COVERED_TEXTURE_RATIO

    failed = {
        FACE_TOO_SMALL: face_size < thresholds.min_face_px
        or (image_short_side_px is not None and face_size < thresholds.min_face_fraction * image_short_side_px),
        TOO_BLURRY: chip_sharpness < thresholds.min_sharpness,
        TOO_DARK: chip_brightness < thresholds.min_brightness,
        OVEREXPOSED: chip_brightness > thresholds.max_brightness or highlights > thresholds.max_highlights,
        POSE_TOO_FAR: abs(yaw) > thresholds.max_yaw
        or abs(pitch) > thresholds.max_pitch
        or abs(roll) > thresholds.max_roll,
    }
    return QualityReport(
        face_size_px=face_size,
        box_height_px=detection.box.height / scale,
        sharpness=chip_sharpness,
        brightness=chip_brightness,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        issues=tuple(code for code in ISSUE_ORDER if failed[code]),
        flags=tuple(
            flag
            for flag, raised in (
                (LOWER_FACE_COVERED, covered),
                (HEAD_TILTED, foreshortening_pitch(landmarks) >= TILT_FLAG_DEGREES),
            )
            if raised
        ),
    )

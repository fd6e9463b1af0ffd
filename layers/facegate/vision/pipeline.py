"""Fixed choices of the face pipeline. They are part of the model id: changing any of them
changes ``model_id``, and templates of different model ids are never compared.
"""

from __future__ import annotations

from typing import Any, Final

from facegate.vision.align import ROUTE_SHAPE_PREDICTOR, alignment_parameters

ALIGNMENT_ROUTE: Final = ROUTE_SHAPE_PREDICTOR
"""dlib's 5-point shape predictor (numpy port) on a box derived from MTCNN's landmarks, then dlib's
own chip geometry. Measured on LFW View 1 dev against the MTCNN-template route: descriptors closer to
dlib's own (1st-percentile cosine 0.996 vs 0.987) and 0.990 vs 0.989 accuracy (scripts/measure_alignment.py)."""
FLIP_AVERAGE: Final = True
"""Embed the chip and its mirror image and sum before normalising: measured to help on LFW."""
FUSION: Final = "mean-of-unit-descriptors"
"""Several images of one person: mean of their L2-normalised descriptors, normalised again."""

MIN_DETECTOR_FACE_PX: Final = 20.0
"""The detector never looks for faces smaller than this (pixels of the working image)."""
ENROLL_MIN_FACE_FRACTION: Final = 0.04
"""Selfies: faces down to 4% of the shorter side are found, so bystanders are seen and refused."""
PROBE_MIN_FACE_FRACTION: Final = 0.15
"""Door frames: the person at the door fills much of the frame; smaller faces are not looked for."""
PROBE_MAX_MIN_FACE_PX: Final = 40.0
"""...but faces of 40 px and more are always looked for, however large the frame (a 40 px box is about
the smallest face the probe quality gate accepts)."""
MIN_FACE_SCORE: Final = 0.85
"""Detections below this confidence are ignored. 0.85 finds the masked face crop of the edge set (0.874)
and finds no extra faces on the edge images or 300 LFW dev images compared with 0.9."""

PREPROCESSING: Final[dict[str, Any]] = {
    "alignment": alignment_parameters(ALIGNMENT_ROUTE),
    "flip_average": FLIP_AVERAGE,
    "fusion": FUSION,
    "detection": {
        "min_face_px": MIN_DETECTOR_FACE_PX,
        "enroll_min_face_fraction": ENROLL_MIN_FACE_FRACTION,
        "probe_min_face_fraction": PROBE_MIN_FACE_FRACTION,
        "probe_max_min_face_px": PROBE_MAX_MIN_FACE_PX,
        "min_score": MIN_FACE_SCORE,
    },
    "descriptor": "L2-normalised dlib ResNet v1 (128-d), cosine similarity",
    "input": "(rgb - mean_rgb) / 256, NCHW",
}

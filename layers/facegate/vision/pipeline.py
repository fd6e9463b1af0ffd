"""Fixed choices of the face pipeline. They are part of the model id: changing any of them
changes ``model_id``, and templates of different model ids are never compared.
"""

from __future__ import annotations

from typing import Any, Final

from facegate.vision.align import ARCFACE_CHIP_SIZE, ARCFACE_TEMPLATE_5, MTCNN_TEMPLATE, MTCNN_WEIGHTS
from facegate.vision.yunet import MAX_INPUT_SIDE, NMS_THRESHOLD, REFINE_CANVAS_PX, REFINE_FACE_PX, REFINE_SCORE

FLIP_AVERAGE: Final = False
"""Embed the chip and its mirror image and sum before normalising. Measured on east-asian-dev (single-image
pairs, TAR at FAR 1e-3): 0.870 without, 0.880 with, for 16.7 ms more per image (the embedder runs twice),
which would take the door's JPEG → template time over its 30 ms budget; off (docs/measurements.md)."""
FUSION: Final = "mean-of-unit-descriptors"
"""Several images of one person: mean of their L2-normalised descriptors, normalised again."""

MIN_DETECTOR_FACE_PX: Final = 20.0
"""The detector never reports faces whose box is smaller than this (pixels of the working image)."""
ENROLL_MIN_FACE_FRACTION: Final = 0.04
"""Selfies: faces down to 4% of the shorter side are reported, so bystanders are seen and refused."""
PROBE_MIN_FACE_FRACTION: Final = 0.15
"""Door frames: the person at the door fills much of the frame; smaller faces are ignored."""
PROBE_MAX_MIN_FACE_PX: Final = 40.0
"""...but faces of 40 px and more are always reported, however large the frame."""
DETECTOR_SCORE: Final = 0.5
"""YuNet candidates below this score are dropped before NMS. Measured (``scripts/measure_quality.py``,
candidates down to 0.3): the two white surgical masks of the edge set score 0.584 and 0.595 (the KF94
mask 0.900), every other edge face at least 0.880; nothing between 0.3 and 0.6 on the edge set but the
masks (the only false candidates, 0.218 and 0.225, sit far below), none on the landscape. On LFW dev
every subject scores at least 0.6 and a door frame's verdict is the same at 0.5 and 0.6; what 0.5 costs
is background people seen and refused ``multiple_faces`` in 283 of 1549 LFW images instead of 260
(LFW's 250x250 crops of press photos often show a neighbour)."""
MIN_FACE_SCORE: Final = 0.5
"""Detections below this confidence are ignored by the engine (the same measurement as
:data:`DETECTOR_SCORE`)."""

PREPROCESSING: Final[dict[str, Any]] = {
    "detector": {
        "network": "YuNet 2023mar (OpenCV Zoo), fp32 weights",
        "max_input_side": MAX_INPUT_SIDE,
        "nms": NMS_THRESHOLD,
        "score": DETECTOR_SCORE,
        "refine": {
            "face_px": REFINE_FACE_PX,
            "canvas_px": REFINE_CANVAS_PX,
            "score": REFINE_SCORE,
            "landmarks": "mean",
            "resample": "box-bilinear",
        },
    },
    "alignment": {
        "embedder_chip": "least-squares similarity of 5 landmarks to the ArcFace template, bilinear",
        "chip_size": ARCFACE_CHIP_SIZE,
        "template": ARCFACE_TEMPLATE_5.round(4).tolist(),
        "quality_chip": {"template": MTCNN_TEMPLATE.round(4).tolist(), "weights": MTCNN_WEIGHTS.round(4).tolist()},
    },
    "flip_average": FLIP_AVERAGE,
    "fusion": FUSION,
    "detection": {
        "min_face_px": MIN_DETECTOR_FACE_PX,
        "enroll_min_face_fraction": ENROLL_MIN_FACE_FRACTION,
        "probe_min_face_fraction": PROBE_MIN_FACE_FRACTION,
        "probe_max_min_face_px": PROBE_MAX_MIN_FACE_PX,
        "min_score": MIN_FACE_SCORE,
    },
    "descriptor": "L2-normalised SFace 2021dec (128-d), cosine similarity",
    "input": "RGB 0-255, NCHW (the network normalises)",
}

"""Fixed choices of the face pipeline. They are part of the model id: changing any of them
changes ``model_id``, and templates of different model ids are never compared.
"""

from __future__ import annotations

from typing import Any, Final

from facegate.vision.align import CHIP_PADDING, CHIP_SIZE, ROUTE_TEMPLATE

ALIGNMENT_ROUTE: Final = ROUTE_TEMPLATE
"""How MTCNN output becomes dlib's chip (see facegate.vision.align); chosen by measurement on LFW."""
FLIP_AVERAGE: Final = True
"""Embed the chip and its mirror image and average: measured to help on LFW."""
FUSION: Final = "mean-of-unit-descriptors"
"""Several images of one person: mean of their L2-normalised descriptors, normalised again."""

PREPROCESSING: Final[dict[str, Any]] = {
    "chip_size": CHIP_SIZE,
    "chip_padding": CHIP_PADDING,
    "alignment": ALIGNMENT_ROUTE,
    "flip_average": FLIP_AVERAGE,
    "fusion": FUSION,
    "descriptor": "l2-normalised dlib resnet v1 (128-d), cosine similarity",
    "input": "(rgb - mean_rgb) / 256, NCHW",
}

"""The shipped decision thresholds (cosine similarity of L2-normalised, flip-averaged descriptors).

Chosen by measurement on the worst cohort we can measure — LFW View 1 dev pairs and
``east-asian-dev`` (32 East Asian identities) — and documented in README's fairness section,
with the command that reproduces them (``facegate eval identities`` / ``facegate eval pairs``).

* ``IDENTIFY_THRESHOLD``: closed-set 1:N camera-only entry; FAR <= 1e-3 on both data sets.
* ``CLAIM_THRESHOLD``: 1:1 check against the visitor named by a claim code; FAR <= 1e-2 on
  east-asian-dev (the claim code is the second factor).
"""

from __future__ import annotations

from facegate.settings import Settings

IDENTIFY_THRESHOLD = 0.980
"""Strictest FAR <= 1e-3 threshold over east-asian-dev (K = 1, 2, 3 enrollment images: 0.9733, 0.9776,
0.9799) and LFW dev pairs (0.9326), int8 model, rounded up (scripts/calibrate_thresholds.py)."""
CLAIM_THRESHOLD = 0.975
"""Strictest FAR <= 1e-2 threshold over east-asian-dev for K = 1, 2, 3 (0.9680, 0.9730, 0.9741), rounded up."""


def defaults(settings: Settings) -> tuple[float, float]:
    """(identify, claim) thresholds in effect: the deployment's overrides, else the shipped values."""
    identify = settings.identify_threshold if settings.identify_threshold is not None else IDENTIFY_THRESHOLD
    claim = settings.claim_threshold if settings.claim_threshold is not None else CLAIM_THRESHOLD
    return identify, claim

"""The shipped calibration belongs to the built engine: a stale ``calibration.json`` fails loudly.

``layers/facegate/domain/calibration.json`` is produced by ``scripts/calibrate.py`` (never by hand); the door
policy resolves every threshold from it. After a model change, regenerate it:
``.venv/bin/python scripts/calibrate.py``.
"""

from __future__ import annotations

import json
from importlib import resources

from security_support import real_engine

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import MAX_F, MAX_K, DoorPolicy, shipped_calibration


def test_calibration_model_id_is_the_built_engines() -> None:
    # Given the built engine (the test skips with a clear message when the models are not built)
    engine = real_engine()
    # When the shipped calibration is read, Then it was measured with this very model
    calibration = shipped_calibration()
    assert calibration.model_id == engine.model_id, (
        f"calibration.json is for {calibration.model_id} but the engine is {engine.model_id}: "
        "run `.venv/bin/python scripts/calibrate.py` and commit the result"
    )


def test_calibration_file_is_generated_and_covers_both_cohorts() -> None:
    # Given the committed file
    data = json.loads(resources.files("facegate.domain").joinpath("calibration.json").read_text())
    # Then it names the command that made it and holds both data sets with every (K, F) on east-asian-dev
    assert data["command"].startswith("python scripts/calibrate.py")
    assert set(data["datasets"]) == {"east-asian-dev", "lfw-dev"}
    cells = {(c["k"], c["f"]) for c in data["datasets"]["east-asian-dev"]["cells"]}
    assert cells == {(k, f) for k in range(1, MAX_K + 1) for f in range(1, MAX_F + 1)}
    # And the policy resolves a claim threshold from it for every K and F
    policy = DoorPolicy(shipped_calibration())
    levels = [SecurityLevel.STANDARD, SecurityLevel.HIGH]
    assert all(policy.claim(level, k, f).threshold for level in levels for k in range(1, 6) for f in range(1, 4))

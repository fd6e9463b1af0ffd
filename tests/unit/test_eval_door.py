"""``facegate eval door`` on synthetic identities: the protocol, the JSON keys and the door's arithmetic."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from facegate.domain.models import SecurityLevel
from facegate.domain.policy import Calibration, DoorPolicy
from facegate_tools.evaluation.door import evaluate_door

KEYS = {
    "n_candidates",
    "face_only_allowed",
    "visitor_face_only_rate",
    "visitor_with_code_rate",
    "visitor_through_rate",
    "visitor_wrong_person_rate",
    "stranger_face_only_rate",
    "stranger_face_only_estimate",
    "stranger_with_stolen_code_rate",
    "n_visitor_attempts",
    "n_stranger_attempts",
}


def make_set(root: Path, prefix: str, identities: int, images: int) -> Path:
    for i in range(identities):
        folder = root / f"{prefix}{i:03d}"
        folder.mkdir(parents=True)
        for j in range(images):
            (folder / f"{j}.jpg").write_bytes(f"{prefix}{i}-{j}".encode())
    return root


BASES = np.linalg.qr(np.random.default_rng(0).normal(size=(128, 128)))[0].T
"""Orthonormal identity directions: impostor scores come only from the photo noise."""


@pytest.fixture
def describer() -> object:
    """Identity ``g007`` is direction 7 (``d007``: 64 + 7); each photo adds a little noise (unit norm)."""

    def describe(paths: Sequence[Path], pick: str) -> dict[Path, np.ndarray]:
        out = {}
        for path in paths:
            name = path.parent.name
            base = BASES[int(name[1:]) + (64 if name[0] == "d" else 0)]
            seed = zlib.crc32(f"{name}/{path.name}".encode())
            noise = np.random.default_rng(seed).normal(size=128)
            vector = base + 0.3 * noise / np.linalg.norm(noise)
            out[path] = (vector / np.linalg.norm(vector)).astype(np.float32)
        return out

    return describe


def test_door_simulation_reports_every_key_per_n(tmp_path: Path, describer: object) -> None:
    # Given 12 visitors with 5 photos each, 30 distractors with 2 photos, and a policy where face-only works
    gallery = make_set(tmp_path / "gallery", "g", 12, 5)
    distractors = make_set(tmp_path / "distractors", "d", 30, 2)
    policy = DoorPolicy(Calibration.normal("synthetic", impostor=(0.0, 0.1), genuine=(0.9, 0.03)))
    # When the door is simulated with K = 3, F = 1 at N = 5, 20 and 1000 (more than are enrolled)
    report = evaluate_door(
        policy,
        describer,
        gallery,
        None,
        distractors,
        3,
        1,
        [5, 20, 1000],
        SecurityLevel.STANDARD,
        7,  # type: ignore[arg-type]
    )
    # Then the report has the keys, N is capped at the enrolled people, and the door works
    assert {"level", "enroll_images", "frames", "model_id", "thresholds", "results"} <= set(report)
    assert [r["n_candidates"] for r in report["results"]] == [5, 20, 36]  # 6 gallery + 30 distractors per half
    for row in report["results"]:
        assert set(row) >= KEYS
        # 2 attempts per visitor (5 photos - 3 enrolled), 12 visitors; strangers: 5 photos each
        assert (row["n_visitor_attempts"], row["n_stranger_attempts"]) == (24, 60)
        assert row["visitor_through_rate"] == 1.0 and row["visitor_wrong_person_rate"] == 0.0
        assert row["stranger_face_only_rate"] == 0.0 and row["stranger_with_stolen_code_rate"] == 0.0
        assert row["face_only_allowed"] and row["stranger_face_only_estimate"] <= 1e-3
    # And the face-only threshold rises with N
    thresholds = [report["thresholds"]["face_only"][str(n)] for n in (5, 20, 36)]
    assert thresholds == sorted(thresholds)


def test_visitors_come_in_with_the_code_where_face_only_is_off(tmp_path: Path, describer: object) -> None:
    # Given a policy whose face-only thresholds are useless (impostors too spread)
    gallery = make_set(tmp_path / "gallery", "g", 8, 4)
    policy = DoorPolicy(Calibration.normal("synthetic", impostor=(0.2, 0.3), genuine=(0.9, 0.03)))
    # When simulated, Then face alone is off, nobody gets in by face, and the code lets visitors through
    report = evaluate_door(policy, describer, gallery, None, None, 3, 1, [4], SecurityLevel.STANDARD, 1)  # type: ignore[arg-type]
    row = report["results"][0]
    assert not row["face_only_allowed"] and row["visitor_face_only_rate"] == 0.0
    assert row["visitor_through_rate"] == row["visitor_with_code_rate"] == 1.0

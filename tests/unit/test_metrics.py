"""Metrics on hand-made score sets whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facegate_tools.evaluation import metrics as m


def test_perfect_separation() -> None:
    genuine = m.as_scores([0.9, 0.8, 0.95])
    impostor = m.as_scores([0.1, 0.2, 0.3, 0.4])
    assert m.auc(genuine, impostor) == 1.0
    assert m.eer(genuine, impostor) == pytest.approx(0.0)
    threshold, accuracy = m.best_threshold(np.concatenate([genuine, impostor]), np.array([1, 1, 1, 0, 0, 0, 0], bool))
    assert accuracy == 1.0 and 0.4 < threshold < 0.8


def test_threshold_for_far_allows_exactly_floor_far_n() -> None:
    # Given 1000 impostor scores 0.000..0.999
    impostor = m.as_scores(np.arange(1000) / 1000)
    # When FAR 1e-2 is asked, Then at most 10 impostors are accepted
    threshold = m.threshold_for_far(impostor, 1e-2)
    assert m.far_at(impostor, threshold) == pytest.approx(0.01)
    assert m.far_at(impostor, np.nextafter(threshold, -np.inf)) > 0.01
    # And FAR 1e-3 accepts 1
    assert m.far_at(impostor, m.threshold_for_far(impostor, 1e-3)) == pytest.approx(0.001)


def test_tar_at_far_and_auc_with_overlap() -> None:
    genuine = m.as_scores([0.5, 0.6, 0.7, 0.8])
    impostor = m.as_scores([0.1, 0.2, 0.55, 0.65])
    # AUC = P(g > i): pairs won = 4+4+... counted by hand = 13 of 16
    assert m.auc(genuine, impostor) == pytest.approx(13 / 16)
    assert m.tar_at_far(genuine, impostor, 0.25) == pytest.approx(0.75)


def test_kfold_uses_other_folds() -> None:
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.8, 0.05, 300), rng.normal(0.3, 0.05, 300)])
    labels = np.array([True] * 300 + [False] * 300)
    folds = np.tile(np.arange(10), 60)
    result = m.kfold_accuracy(scores, labels, folds)
    assert len(result.accuracies) == 10 and result.mean > 0.99


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=50), st.lists(st.floats(-1, 1), min_size=1, max_size=50))
def test_auc_matches_pairwise_definition(genuine: list[float], impostor: list[float]) -> None:
    g, i = m.as_scores(genuine), m.as_scores(impostor)
    wins = (g[:, None] > i[None, :]).sum() + 0.5 * (g[:, None] == i[None, :]).sum()
    assert m.auc(g, i) == pytest.approx(wins / (g.size * i.size))

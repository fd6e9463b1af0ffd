"""ROC plots (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facegate_tools.evaluation import metrics


def roc_plot(scores: Sequence[float], same: Sequence[bool], out: Path, title: str) -> None:
    """Write a log-FAR ROC curve of ``scores`` (higher = same person) to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(same, dtype=bool)
    far, tar, _ = metrics.roc_curve(values[labels], values[~labels])
    figure, axis = plt.subplots(figsize=(5, 4), dpi=120)
    axis.plot(np.maximum(far, 1e-4), tar, label=f"AUC {metrics.auc(values[labels], values[~labels]):.4f}")
    axis.set_xscale("log")
    axis.set_xlim(1e-3, 1.0)
    axis.set_xlabel("false accept rate")
    axis.set_ylabel("true accept rate")
    axis.set_title(title, fontsize=8)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)

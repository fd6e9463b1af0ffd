"""The face engine as the tools load it: model directory from :class:`~facegate.settings.Settings`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from facegate.settings import Settings

if TYPE_CHECKING:
    from facegate.vision.engine import FaceEngine


def load_engine(threads: int = 1) -> FaceEngine:
    """Open the models named by the environment's settings (``FACEGATE_MODEL_DIR``, else the default).

    Args:
        threads: onnxruntime intra-op threads per session (>= 1).
    """
    from facegate.vision.engine import FaceEngine  # onnxruntime: imported when an engine is wanted, not by --help

    return FaceEngine.load(Settings.from_env().model_dir, threads=threads)

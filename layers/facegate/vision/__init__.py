"""The face engine. ``from facegate.vision import FaceEngine`` loads ONNX models lazily on ``load()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facegate.vision.types import Box, Detection, Face, QualityReport, Template

if TYPE_CHECKING:
    from facegate.vision.engine import FaceEngine

__all__ = ["Box", "Detection", "Face", "FaceEngine", "QualityReport", "Template"]


def __getattr__(name: str) -> Any:
    if name == "FaceEngine":
        from facegate.vision.engine import FaceEngine

        return FaceEngine
    raise AttributeError(name)

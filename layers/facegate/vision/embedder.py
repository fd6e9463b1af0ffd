"""Face embedder: SFace (OpenCV Zoo, 2021dec), 128-d, run as fp32 ONNX.

The model takes 112x112 RGB chips aligned to the ArcFace template (values 0-255: the graph starts
with its own normalisation) and returns raw descriptors (compare by cosine after L2 normalisation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.vision.align import ARCFACE_CHIP_SIZE
from facegate.vision.onnx import open_session

CHIP_SIZE = ARCFACE_CHIP_SIZE
"""Side of an aligned face chip in pixels."""
DESCRIPTOR_SIZE = 128


def preprocess_chips(chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """RGB chips (N, 112, 112, 3) uint8 → network input (N, 3, 112, 112) float32, values 0-255.

    Raises:
        ValueError: wrong dtype or shape.
    """
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(
            f"expected uint8 chips of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}"
        )
    return np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)


class Embedder:
    """One ONNX Runtime session over ``sface_fp32.onnx``.

    Args:
        model_path: the ONNX file.
        threads: intra-op threads (1 on Lambda-sized instances).

    Raises:
        ModelUnavailable: the file is missing or is not a loadable 112x112 embedder.
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session: Any = open_session(model_path, threads, "embedder")
        (model_input,) = self._session.get_inputs()
        (model_output,) = self._session.get_outputs()
        self.input_name: str = model_input.name
        self.output_name: str = model_output.name
        self.input_shape: tuple[int | str | None, ...] = tuple(model_input.shape)
        if tuple(self.input_shape[1:]) != (3, CHIP_SIZE, CHIP_SIZE):
            raise ModelUnavailable(f"{model_path.name} expects input {self.input_shape}, not (N, 3, 112, 112)")

    def embed(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw descriptors of aligned chips.

        Args:
            chips: uint8 (N, 112, 112, 3) RGB, N >= 1.

        Returns:
            float32 (N, 128), not normalised.
        """
        outputs = self._session.run([self.output_name], {self.input_name: preprocess_chips(chips)})
        return np.asarray(outputs[0], dtype=np.float32)

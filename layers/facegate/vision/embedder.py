"""Face embedder: dlib's 128-d ResNet, run as ONNX (fp32 or static int8).

The model takes aligned 150x150 RGB chips (dlib's ``get_face_chip(img, shape, 150, 0.25)``
geometry) and returns raw, un-normalised descriptors (L2 norms about 1.3-1.6; dlib compares
them by Euclidean distance, threshold 0.6).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.vision.onnx import open_session

CHIP_SIZE = 150
"""Side of an aligned face chip in pixels."""

DESCRIPTOR_SIZE = 128

MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
"""Per-channel means (R, G, B, pixel units) stored in dlib's model file; the converter checks them."""

INPUT_SCALE = np.float32(1.0 / 256.0)


def preprocess_chips(chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Turn RGB chips into the network input, exactly as dlib's ``input_rgb_image_sized`` does.

    Args:
        chips: uint8 (N, 150, 150, 3) RGB, values 0-255.

    Returns:
        float32 (N, 3, 150, 150), ``(pixel - MEAN_RGB[channel]) / 256`` (about -0.48 to 0.59).
    """
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(
            f"expected uint8 chips of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}"
        )
    centred = chips.astype(np.float32) - MEAN_RGB
    return np.ascontiguousarray((centred * INPUT_SCALE).transpose(0, 3, 1, 2))


class Embedder:
    """One ONNX Runtime session over an embedder model (``embedder_fp32.onnx`` or ``embedder_int8.onnx``).

    Args:
        model_path: the ONNX file.
        threads: intra-op threads (1 on Lambda-sized instances; execution is sequential).

    Raises:
        ModelUnavailable: the file is missing or is not a loadable embedder.
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._session: Any = open_session(model_path, threads, "embedder")
        (model_input,) = self._session.get_inputs()
        (model_output,) = self._session.get_outputs()
        self.input_name: str = model_input.name
        self.output_name: str = model_output.name
        self.input_shape: tuple[int | str | None, ...] = tuple(model_input.shape)
        self.output_size = int(model_output.shape[-1])
        if tuple(self.input_shape[1:]) != (3, CHIP_SIZE, CHIP_SIZE):
            raise ModelUnavailable(f"{model_path.name} expects input {self.input_shape}, not (N, 3, 150, 150)")

    def embed(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw descriptors of aligned chips.

        Args:
            chips: uint8 (N, 150, 150, 3) RGB, N >= 1.

        Returns:
            float32 (N, 128), not normalised.
        """
        outputs = self._session.run([self.output_name], {self.input_name: preprocess_chips(chips)})
        return np.asarray(outputs[0], dtype=np.float32)

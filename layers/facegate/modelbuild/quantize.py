"""Static int8 quantisation of the embedder (ONNX Runtime ``quantize_static``), mixed with fp32.

Calibration data: aligned face chips (N, 150, 150, 3) uint8 RGB. Only about a dozen calibration
faces ship with the build inputs, so :func:`augment_calibration_chips` widens them with
deterministic mirror, brightness, contrast and shift variants.

The defaults (:data:`DEFAULT_SETTINGS`) were chosen by measuring int8 against fp32 on LFW dev pairs
and east-asian-dev (``scripts/measure_int8.py``): QOperator, per-channel S8 weights, U8 activations,
MinMax ranges widened 1.25x, and 2.5x in the widest (256-filter) stage, whose activations on
evaluation faces reach up to 3x what the calibration faces reach. The convolutions in between run in
int8; the stem, the first and last residual blocks, the fc layer and the shortcut path (residual
additions, average pools, pads) stay fp32, because quantising them costs the most fidelity per
operation. Against the all-int8 model this halves the score error (mean |cosine change| on LFW dev
pairs 0.0017 -> 0.0008) for about 0.5 ms more per chip; it does not reach fp32-equal decisions at
thresholds in the dense middle of the genuine-score distribution (see the measurement script).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.vision.embedder import CHIP_SIZE, INPUT_SCALE, MEAN_RGB, preprocess_chips

CALIBRATION_BATCH = 8
BRIGHTNESS_OFFSETS = (-32.0, 32.0)
"""Added to every pixel (grey levels)."""
CONTRAST_FACTORS = (0.7, 1.3)
"""Scale of the deviation from the chip's mean grey level."""
SHIFTS_PX = ((0, 6), (0, -6), (6, 0), (-6, 0))
"""(dy, dx) translations in pixels; uncovered borders replicate the edge pixels."""

FLOAT_PARTS = ("stem", "first_block", "shortcuts", "last_block", "last_stage", "fc")
"""Parts of the ResNet that :class:`QuantSettings` can keep in fp32, found from the graph's structure:

* ``stem``: every node up to the first MaxPool (7x7 conv, ReLU, max-pool).
* ``first_block``: the residual branch between the stem and the first Add.
* ``shortcuts``: every Add, the ReLU after it, and the AveragePool and Pad nodes (the residual stream).
* ``last_block``: every node after the ReLU of the second-to-last Add (last block, pooling, fc).
* ``last_stage``: every node from the first convolution of the widest stage (most filters) on.
* ``fc``: the final MatMul/Gemm.
"""


@dataclass(frozen=True, slots=True)
class QuantSettings:
    """Choices for the static quantisation.

    Attributes:
        quant_format: ``"QDQ"`` or ``"QOperator"``.
        per_channel: one weight scale per output channel (else per tensor).
        calibrate_method: ``"MinMax"``, ``"Entropy"`` or ``"Percentile"``.
        activation_type, weight_type: ``"QUInt8"`` or ``"QInt8"``.
        reduce_range: 7-bit weights (avoids int16 saturation on CPUs without VNNI).
        range_headroom: factor (>= 1) applied to every calibrated activation range (the input's
            range is set exactly instead). A dozen calibration faces under-estimate the ranges
            other faces reach; clipping then biases distances for whole populations, while a wider
            range costs resolution on every face.
        last_stage_headroom: the factor for the tensors of the widest stage (see ``last_stage``
            in :data:`FLOAT_PARTS`), where the calibration faces fall furthest short.
        float_parts: names from :data:`FLOAT_PARTS` kept in fp32.
    """

    quant_format: str = "QOperator"
    per_channel: bool = True
    calibrate_method: str = "MinMax"
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    reduce_range: bool = False
    range_headroom: float = 1.25
    last_stage_headroom: float = 2.5
    float_parts: tuple[str, ...] = ("stem", "first_block", "shortcuts", "last_block")


DEFAULT_SETTINGS = QuantSettings()
ALL_INT8_SETTINGS = QuantSettings(range_headroom=2.0, last_stage_headroom=2.0, float_parts=())
"""The previous default: every node int8, every range widened 2x (for comparisons)."""


def _shift(chips: npt.NDArray[np.uint8], dy: int, dx: int) -> npt.NDArray[np.uint8]:
    """Translate by (dy, dx) pixels, replicating the edge into the uncovered border."""
    rows = np.clip(np.arange(CHIP_SIZE) - dy, 0, CHIP_SIZE - 1)
    cols = np.clip(np.arange(CHIP_SIZE) - dx, 0, CHIP_SIZE - 1)
    return chips[:, rows][:, :, cols]


def augment_calibration_chips(chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Deterministic photometric and geometric variants of calibration chips.

    Args:
        chips: uint8 (N, 150, 150, 3) RGB.

    Returns:
        uint8 (N * 18, 150, 150, 3): for the chips and their mirror images, the original, two
        brightness offsets, two contrast factors and four small shifts.
    """
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"expected uint8 chips (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}")
    base = np.concatenate([chips, chips[:, :, ::-1]])
    as_float = base.astype(np.float32)
    means = as_float.mean(axis=(1, 2, 3), keepdims=True)
    variants = [base]
    variants += [np.clip(as_float + offset, 0, 255).round().astype(np.uint8) for offset in BRIGHTNESS_OFFSETS]
    variants += [
        np.clip(means + (as_float - means) * factor, 0, 255).round().astype(np.uint8) for factor in CONTRAST_FACTORS
    ]
    variants += [_shift(base, dy, dx) for dy, dx in SHIFTS_PX]
    return np.ascontiguousarray(np.concatenate(variants))


def _calibration_reader(input_name: str, chips: npt.NDArray[np.uint8]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class ChipReader(CalibrationDataReader):  # type: ignore[misc]
        """Feeds preprocessed chips in fixed-size batches, in order."""

        def __init__(self) -> None:
            self._batches: Iterator[npt.NDArray[np.float32]] = (
                preprocess_chips(chips[start : start + CALIBRATION_BATCH])
                for start in range(0, len(chips), CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    return ChipReader()


def quantize_embedder(
    fp32_path: Path,
    out_path: Path,
    chips: npt.NDArray[np.uint8],
    *,
    settings: QuantSettings = DEFAULT_SETTINGS,
) -> None:
    """Write a statically quantised (int8 with fp32 parts) copy of the fp32 embedder.

    Deterministic: the same model, chips and settings give the same bytes.

    Args:
        fp32_path: the fp32 ONNX model (input ``chips`` [N, 3, 150, 150]).
        out_path: where the quantised model goes.
        chips: calibration chips, uint8 (N, 150, 150, 3) RGB, N >= 1, aligned like the runtime's
            (pass them through :func:`augment_calibration_chips` first when there are few faces).
        settings: quantisation format, granularity, calibration method, ranges and fp32 parts.

    Raises:
        ModelUnavailable: no calibration chips, the fp32 model cannot be read, or its graph is not
            the residual network the fp32 parts are defined on.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        create_calibrator,
        quantize_static,
        save_tensors_data,
    )

    if len(chips) == 0:
        raise ModelUnavailable("int8 calibration needs at least one face chip")
    if not fp32_path.is_file():
        raise ModelUnavailable(f"{fp32_path} does not exist")
    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    input_name = graph.input[0].name
    headroom = range_headrooms(graph, settings)
    method = CalibrationMethod[settings.calibrate_method]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facegate-quant-") as tmp:
        work = Path(tmp)
        calibrator = create_calibrator(
            fp32_path, augmented_model_path=str(work / "augmented.onnx"), calibrate_method=method
        )
        calibrator.collect_data(_calibration_reader(input_name, chips))
        ranges = calibrator.compute_data()
        del calibrator
        for name, data in ranges.items():
            if name == input_name:
                data.lowest, data.highest = _input_range()
            else:
                factor = headroom.get(name, settings.range_headroom)
                data.lowest = np.asarray(data.lowest * factor, dtype=np.float32)
                data.highest = np.asarray(data.highest * factor, dtype=np.float32)
        save_tensors_data(ranges, work / "ranges.json")
        quantize_static(
            fp32_path,
            work / "int8.onnx",
            None,
            quant_format=QuantFormat[settings.quant_format],
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=QuantType[settings.activation_type],
            weight_type=QuantType[settings.weight_type],
            nodes_to_exclude=float_node_names(graph, settings.float_parts),
            calibrate_method=method,
            calibration_cache_path=work / "ranges.json",
        )
        shutil.move(work / "int8.onnx", out_path)


def float_node_names(graph: Any, parts: tuple[str, ...]) -> list[str]:
    """Sorted names of the nodes of ``graph`` (an ``onnx.GraphProto`` in topological order) that
    make up ``parts`` (names from :data:`FLOAT_PARTS`).

    Raises:
        ValueError: an unknown part name.
        ModelUnavailable: the graph lacks the MaxPool, the two Adds or the convolutions the parts
            are defined by.
    """
    unknown = sorted(set(parts) - set(FLOAT_PARTS))
    if unknown:
        raise ValueError(f"unknown fp32 parts {unknown}; expected names from {FLOAT_PARTS}")
    if not parts:
        return []
    nodes = list(graph.node)
    pools = [index for index, node in enumerate(nodes) if node.op_type == "MaxPool"]
    adds = [index for index, node in enumerate(nodes) if node.op_type == "Add"]
    if not pools or len(adds) < 2 or adds[0] < pools[0]:
        raise ModelUnavailable("the embedder graph is not the expected residual network (stem, MaxPool, Adds)")
    relu_after = {index: _relus_after(nodes, index) for index in adds}
    chosen: set[int] = set()
    if "stem" in parts:
        chosen.update(range(pools[0] + 1))
    if "first_block" in parts:
        chosen.update(range(pools[0] + 1, adds[0]))
    if "shortcuts" in parts:
        chosen.update(adds)
        chosen.update(relu for index in adds for relu in relu_after[index])
        chosen.update(index for index, node in enumerate(nodes) if node.op_type in ("AveragePool", "Pad"))
    if "last_block" in parts:
        chosen.update(range(max(relu_after[adds[-2]], default=adds[-2]) + 1, len(nodes)))
    if "last_stage" in parts:
        chosen.update(range(_last_stage_start(graph), len(nodes)))
    if "fc" in parts:
        chosen.update(index for index, node in enumerate(nodes) if node.op_type in ("MatMul", "Gemm"))
    return sorted(nodes[index].name for index in chosen)


def range_headrooms(graph: Any, settings: QuantSettings) -> dict[str, float]:
    """Range widening factor per tensor name produced in ``graph`` (an ``onnx.GraphProto``)."""
    start = _last_stage_start(graph)
    return {
        output: settings.last_stage_headroom if index >= start else settings.range_headroom
        for index, node in enumerate(graph.node)
        for output in node.output
    }


def _relus_after(nodes: list[Any], index: int) -> list[int]:
    output = nodes[index].output[0]
    return [later for later, node in enumerate(nodes) if node.op_type == "Relu" and output in node.input]


def _last_stage_start(graph: Any) -> int:
    """Index of the first Conv with the most filters (the widest stage's first convolution)."""
    weights = {tensor.name: tuple(tensor.dims) for tensor in graph.initializer}
    filters = [
        (weights[node.input[1]][0], index)
        for index, node in enumerate(graph.node)
        if node.op_type == "Conv" and node.input[1] in weights
    ]
    if not filters:
        raise ModelUnavailable("the embedder graph has no convolutions with constant weights")
    widest = max(count for count, _ in filters)
    return min(index for count, index in filters if count == widest)


def _input_range() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Exact range of :func:`preprocess_chips` output over all uint8 pixels."""
    lowest = (0.0 - MEAN_RGB.max()) * INPUT_SCALE
    highest = (255.0 - MEAN_RGB.min()) * INPUT_SCALE
    return np.asarray(lowest, dtype=np.float32), np.asarray(highest, dtype=np.float32)

"""Parser for dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``).

A dlib network file does not record its own wiring: tag and skip layers write only a version
number, and ``add_prev`` does not say which tag it reads. The wiring therefore comes from the
C++ type (``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp``), written out here in forward
order as :data:`ANET_WIRING`. The parser walks that wiring, checks the stack of wrapper versions
at the head of the file against it (a structure checksum), reads one record per layer while
checking its type string and hyper-parameters, and requires the file to end exactly there.

Accepted record variants (so that other dlib nets with the same building blocks also parse):
``con_4``/``con_5``/``con_6``, ``affine_``/``affine_2`` and ``bn_con2``/``bn_fc2`` (converted
to affine as dlib does on load), ``relu_``/``relu_2``, ``max_pool_2``, ``avg_pool_2``,
``add_prev_``, ``fc_2``/``fc_3``, inputs ``input_rgb_image_sized``/``input_rgb_image``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.modelbuild.dlib_serialize import DlibReader

F32 = npt.NDArray[np.float32]

# ---------------------------------------------------------------------------------------------
# Typed records


@dataclass(frozen=True, slots=True)
class InputRecord:
    """``input_rgb_image[_sized]``: per-channel means (R, G, B, pixel units 0-255) and chip size."""

    mean_rgb: tuple[float, float, float]
    rows: int | None
    cols: int | None


@dataclass(frozen=True, slots=True)
class ConvRecord:
    """``con_*``: cross-correlation with symmetric zero padding.

    Attributes:
        weights: float32 (filters, channels, kh, kw), the ONNX Conv ``W`` layout.
        bias: float32 (filters,) (zeros when the layer has no bias).
        stride: (y, x); padding: (y, x) pixels on each side.
        fused_relu: ``con_6`` with ``use_relu``: a relu follows the convolution.
    """

    weights: F32
    bias: F32
    stride: tuple[int, int]
    padding: tuple[int, int]
    fused_relu: bool = False


@dataclass(frozen=True, slots=True)
class AffineRecord:
    """``affine_`` (or a batch-norm converted to one): ``y = x * gamma + beta``.

    Attributes:
        gamma, beta: float32 of the alias shape (1, C, 1, 1) in conv mode, (1, C, H, W) in fc mode.
        per_channel: True for conv mode (one gamma per channel), False for fc mode (per element).
        disabled: an ``affine_2`` that is switched off (identity).
    """

    gamma: F32
    beta: F32
    per_channel: bool
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ReluRecord:
    """``relu_``/``relu_2``; ``disabled`` relus are the identity."""

    disabled: bool = False


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """``max_pool_2``/``avg_pool_2``. ``size`` (0, 0) means pooling over the whole map."""

    kind: Literal["max", "avg"]
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def is_global(self) -> bool:
        return self.size == (0, 0)


@dataclass(frozen=True, slots=True)
class AddPrevRecord:
    """``add_prev<tag>``: adds the output of the most recent ``tag`` (zero-padding the smaller)."""

    tag: int


@dataclass(frozen=True, slots=True)
class TagRecord:
    """``tag<n>``: names the current output (writes no record in the file)."""

    tag: int


@dataclass(frozen=True, slots=True)
class SkipRecord:
    """``skip<n>``: replaces the current output by the most recent ``tag<n>`` output."""

    tag: int


@dataclass(frozen=True, slots=True)
class FcRecord:
    """``fc_*``: ``y = flatten(x) @ weights (+ bias)``.

    Attributes:
        weights: float32 (inputs, outputs), input-major as dlib stores it.
        bias: float32 (outputs,) or None.
    """

    weights: F32
    bias: F32 | None


LayerRecord = (
    InputRecord
    | ConvRecord
    | AffineRecord
    | ReluRecord
    | PoolRecord
    | AddPrevRecord
    | TagRecord
    | SkipRecord
    | FcRecord
)


@dataclass(frozen=True, slots=True)
class DlibNet:
    """A parsed dlib network: its layers in forward (inference) order, tags and skips included.

    Attributes:
        layers: starts with the :class:`InputRecord`, ends with the last layer before the loss.
        loss: the loss type string (``loss_metric_2`` for the face ResNet).
    """

    layers: tuple[LayerRecord, ...]
    loss: str

    @property
    def input(self) -> InputRecord:
        first = self.layers[0]
        assert isinstance(first, InputRecord)
        return first

    def count(self, kind: type[LayerRecord]) -> int:
        """Number of layers of one record type."""
        return sum(isinstance(layer, kind) for layer in self.layers)


# ---------------------------------------------------------------------------------------------
# Wiring (the C++ type, forward order)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer of the C++ network type.

    Attributes:
        kind: ``input``, ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``,
            ``tag``, ``skip`` or ``fc``.
        args: the template arguments: con (filters, kh, kw, stride_y, stride_x); pools (nr, nc,
            stride_y, stride_x); fc (outputs,); tag/skip/add_prev (tag,); input (rows, cols).
    """

    kind: str
    args: tuple[int, ...] = ()


def _con(filters: int, kernel: int, stride: int) -> LayerSpec:
    return LayerSpec("con", (filters, kernel, kernel, stride, stride))


def _block(filters: int, stride: int) -> list[LayerSpec]:
    # block<N,BN,stride> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [_con(filters, 3, stride), LayerSpec("affine"), LayerSpec("relu"), _con(filters, 3, 1), LayerSpec("affine")]


def _ares(filters: int) -> list[LayerSpec]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [LayerSpec("tag", (1,)), *_block(filters, 1), LayerSpec("add_prev", (1,)), LayerSpec("relu")]


def _ares_down(filters: int) -> list[LayerSpec]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        LayerSpec("tag", (1,)),
        *_block(filters, 2),
        LayerSpec("tag", (2,)),
        LayerSpec("skip", (1,)),
        LayerSpec("avg_pool", (2, 2, 2, 2)),
        LayerSpec("add_prev", (2,)),
        LayerSpec("relu"),
    ]


def _anet_wiring() -> tuple[LayerSpec, ...]:
    layers = [
        LayerSpec("input", (150, 150)),
        _con(32, 7, 2),
        LayerSpec("affine"),
        LayerSpec("relu"),
        LayerSpec("max_pool", (3, 3, 2, 2)),
    ]
    levels = [(32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True)]
    for filters, repeats, down in levels:
        if down:
            layers += _ares_down(filters)
        for _ in range(repeats):
            layers += _ares(filters)
    layers += [LayerSpec("avg_pool", (0, 0, 1, 1)), LayerSpec("fc", (128,))]
    return tuple(layers)


ANET_WIRING: tuple[LayerSpec, ...] = _anet_wiring()
"""``anet_type`` of dlib's face-recognition example, input first, ``fc_no_bias<128>`` last."""

EXPECTED_LOSS = ("loss_metric_2", "loss_metric_")

# ---------------------------------------------------------------------------------------------
# Record readers


def _fail(reader: DlibReader, what: str) -> ModelUnavailable:
    return ModelUnavailable(f"malformed dlib model file: {what} at byte {reader.pos}")


def _check_args(reader: DlibReader, spec: LayerSpec, found: tuple[int, ...]) -> None:
    if spec.args and found != spec.args:
        raise _fail(reader, f"{spec.kind} layer has {found}, the network type says {spec.args}")


def _alias_size(shape: tuple[int, int, int, int]) -> int:
    return int(np.prod(shape))


def _read_input(reader: DlibReader, spec: LayerSpec) -> InputRecord:
    kind = reader.expect_string("input_rgb_image_sized", "input_rgb_image")
    red, green, blue = (float(v) for v in reader.read_floats(3))
    if kind == "input_rgb_image":
        return InputRecord((red, green, blue), None, None)
    rows, cols = reader.read_int(), reader.read_int()
    _check_args(reader, spec, (rows, cols))
    return InputRecord((red, green, blue), rows, cols)


def _read_conv(reader: DlibReader, spec: LayerSpec) -> ConvRecord:
    kind = reader.expect_string("con_4", "con_5", "con_6")
    params = reader.read_tensor().reshape(-1)
    filters, kh, kw, stride_y, stride_x, pad_y, pad_x = (reader.read_int() for _ in range(7))
    _check_args(reader, spec, (filters, kh, kw, stride_y, stride_x))
    filter_shape = reader.read_alias()
    bias_shape = reader.read_alias()
    reader.read_floats(4)  # learning-rate and weight-decay multipliers
    use_bias = reader.read_bool() if kind in ("con_5", "con_6") else True
    use_relu = reader.read_bool() if kind == "con_6" else False
    if filter_shape[0] != filters or filter_shape[2:] != (kh, kw):
        raise _fail(reader, f"conv filter shape {filter_shape} does not match ({filters}, ?, {kh}, {kw})")
    n_weights, n_bias = _alias_size(filter_shape), _alias_size(bias_shape)
    if params.size != n_weights + n_bias or n_bias not in (0, filters):
        raise _fail(reader, f"conv params hold {params.size} values, expected {n_weights} + {n_bias}")
    weights = params[:n_weights].reshape(filter_shape)
    bias = params[n_weights:].copy() if use_bias and n_bias else np.zeros(filters, dtype=np.float32)
    return ConvRecord(weights, bias, (stride_y, stride_x), (pad_y, pad_x), use_relu)


def _read_affine(reader: DlibReader, spec: LayerSpec) -> AffineRecord:
    kind = reader.expect_string("affine_", "affine_2", "bn_con2", "bn_fc2")
    if kind.startswith("bn_"):
        return _read_batch_norm(reader, per_channel=kind == "bn_con2")
    params = reader.read_tensor().reshape(-1)
    gamma_shape = reader.read_alias()
    beta_shape = reader.read_alias()
    mode = reader.read_int()
    disabled = reader.read_bool() if kind == "affine_2" else False
    if mode not in (0, 1) or gamma_shape != beta_shape:
        raise _fail(reader, f"bad affine mode {mode} or shapes {gamma_shape}/{beta_shape}")
    size = _alias_size(gamma_shape)
    if params.size != 2 * size:
        if disabled and params.size == 0:
            empty = np.zeros(gamma_shape, dtype=np.float32)
            return AffineRecord(empty, empty, per_channel=mode == 0, disabled=True)
        raise _fail(reader, f"affine params hold {params.size} values, expected {2 * size}")
    gamma = params[:size].reshape(gamma_shape)
    beta = params[size:].reshape(beta_shape)
    return AffineRecord(gamma, beta, per_channel=mode == 0, disabled=disabled)


def _read_batch_norm(reader: DlibReader, *, per_channel: bool) -> AffineRecord:
    """A ``bn_con2``/``bn_fc2`` record converted to the affine dlib builds from it on load."""
    params = reader.read_tensor().reshape(-1)
    gamma_shape = reader.read_alias()
    reader.read_alias()  # beta
    reader.read_tensor()  # batch means
    reader.read_tensor()  # batch inverse standard deviations
    running_means = reader.read_tensor().reshape(-1).astype(np.float64)
    running_variances = reader.read_tensor().reshape(-1).astype(np.float64)
    reader.read_int()  # num_updates
    reader.read_int()  # running_stats_window_size
    reader.read_floats(4)  # multipliers
    eps = float(reader.read_float())
    size = _alias_size(gamma_shape)
    if params.size != 2 * size or running_means.size != size or running_variances.size != size:
        raise _fail(reader, "batch-norm parameter sizes do not agree")
    scale = params[:size].astype(np.float64) / np.sqrt(running_variances + eps)
    shift = params[size:].astype(np.float64) - scale * running_means
    return AffineRecord(
        scale.astype(np.float32).reshape(gamma_shape),
        shift.astype(np.float32).reshape(gamma_shape),
        per_channel=per_channel,
    )


def _read_relu(reader: DlibReader, spec: LayerSpec) -> ReluRecord:
    kind = reader.expect_string("relu_", "relu_2")
    return ReluRecord(disabled=reader.read_bool() if kind == "relu_2" else False)


def _read_pool(reader: DlibReader, spec: LayerSpec) -> PoolRecord:
    kind: Literal["max", "avg"] = "max" if spec.kind == "max_pool" else "avg"
    reader.expect_string(f"{kind}_pool_2")
    rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.read_int() for _ in range(6))
    _check_args(reader, spec, (rows, cols, stride_y, stride_x))
    return PoolRecord(kind, (rows, cols), (stride_y, stride_x), (pad_y, pad_x))


def _read_add_prev(reader: DlibReader, spec: LayerSpec) -> AddPrevRecord:
    reader.expect_string("add_prev_")
    return AddPrevRecord(spec.args[0])


def _read_fc(reader: DlibReader, spec: LayerSpec) -> FcRecord:
    kind = reader.expect_string("fc_2", "fc_3")
    outputs, inputs = reader.read_int(), reader.read_int()
    _check_args(reader, spec, (outputs,))
    params = reader.read_tensor().reshape(-1)
    weight_shape = reader.read_alias()
    bias_shape = reader.read_alias()
    bias_mode = reader.read_int()  # 0 = has bias, 1 = no bias
    reader.read_floats(4)
    use_bias = reader.read_bool() if kind == "fc_3" else True
    n_weights, n_bias = _alias_size(weight_shape), _alias_size(bias_shape)
    if n_weights != inputs * outputs or params.size != n_weights + n_bias or n_bias not in (0, outputs):
        raise _fail(reader, f"fc params hold {params.size} values for {inputs}x{outputs} (+{n_bias})")
    weights = params[:n_weights].reshape(inputs, outputs)
    has_bias = bias_mode == 0 and use_bias and n_bias == outputs
    return FcRecord(weights, params[n_weights:].copy() if has_bias else None)


_READERS: dict[str, Callable[[DlibReader, LayerSpec], LayerRecord]] = {
    "con": _read_conv,
    "affine": _read_affine,
    "relu": _read_relu,
    "max_pool": _read_pool,
    "avg_pool": _read_pool,
    "add_prev": _read_add_prev,
    "fc": _read_fc,
}

# ---------------------------------------------------------------------------------------------
# Whole file


def _expected_versions(wiring: Sequence[LayerSpec]) -> list[set[int]]:
    """Wrapper versions as they appear in the file: outermost (last layer) first.

    Tags and skips write 1; add_layers write 2 (1 in an older format); the add_layer that wraps
    the input layer (the first real layer) writes 3.
    """
    versions: list[set[int]] = []
    for index, spec in enumerate(wiring[1:], start=1):
        if spec.kind in ("tag", "skip"):
            versions.append({1})
        else:
            versions.append({3} if index == 1 else {1, 2})
    return versions[::-1]


def _read_trailer(reader: DlibReader, version: int) -> None:
    """The add_layer fields after the layer details (state flags and training buffers)."""
    for _ in range(3):
        reader.read_bool()
    for _ in range(2 if version == 1 else 3):
        reader.read_tensor()
    if version == 3:
        reader.read_int()  # sample_expansion_factor


def parse_dlib_net(data: bytes, wiring: Sequence[LayerSpec] = ANET_WIRING) -> DlibNet:
    """Parse a serialised dlib network whose C++ type is ``wiring`` (input first).

    Raises:
        ModelUnavailable: the bytes are truncated, garbled, have trailing data, or do not match
            the wiring (version stack, layer type strings or hyper-parameters).
    """
    if len(wiring) < 2 or wiring[0].kind != "input" or wiring[1].kind in ("tag", "skip"):
        raise ValueError("the wiring must start with the input layer followed by a computational layer")
    unknown = {spec.kind for spec in wiring[1:]} - {*_READERS, "tag", "skip"}
    if unknown:
        raise ValueError(f"unknown layer kinds in wiring: {sorted(unknown)}")
    reader = DlibReader(data)
    try:
        return _parse(reader, wiring)
    except (ValueError, OverflowError, MemoryError) as exc:
        raise _fail(reader, f"inconsistent record ({exc})") from exc


def _parse(reader: DlibReader, wiring: Sequence[LayerSpec]) -> DlibNet:
    if reader.read_int() != 1:
        raise _fail(reader, "unsupported add_loss_layer version")
    loss = reader.expect_string(*EXPECTED_LOSS)
    if loss == "loss_metric_2":
        reader.read_floats(2)  # margin, distance threshold

    expected = _expected_versions(wiring)
    versions = [reader.read_int() for _ in expected]
    if any(v not in allowed for v, allowed in zip(versions, expected, strict=True)):
        raise _fail(reader, "the layer version stack does not match the network type")
    add_layer_versions = iter(
        v for v, spec in zip(versions[::-1], wiring[1:], strict=True) if spec.kind not in ("tag", "skip")
    )

    layers: list[LayerRecord] = [_read_input(reader, wiring[0])]
    for spec in wiring[1:]:
        if spec.kind == "tag":
            layers.append(TagRecord(spec.args[0]))
            continue
        if spec.kind == "skip":
            layers.append(SkipRecord(spec.args[0]))
            continue
        layers.append(_READERS[spec.kind](reader, spec))
        _read_trailer(reader, next(add_layer_versions))
    reader.expect_end()
    return DlibNet(tuple(layers), loss)


def load_face_resnet(path: Path) -> DlibNet:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` (the 128-d face embedder).

    Raises:
        ModelUnavailable: the file is missing, unreadable or malformed.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelUnavailable(f"cannot read {path.name}: {exc.strerror}") from exc
    return parse_dlib_net(data, ANET_WIRING)

"""Convert dlib's face-recognition ResNet to ONNX (opset 17), deterministically.

Graph: input ``chips`` float32 [N, 3, 150, 150] (already preprocessed by
:func:`facegate.vision.embedder.preprocess_chips`), output ``descriptors`` float32 [N, 128]
(raw, not normalised). Each affine that follows a conv is folded into it; dlib's ``add_prev``
on operands of different shapes zero-pads the smaller one at the end of each axis, which
becomes Pad + Add. Node and tensor names are fixed, and nothing time- or random-dependent is
written, so the same input file always gives the same output bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facegate.errors import ModelUnavailable
from facegate.modelbuild.dlib_resnet import (
    AddPrevRecord,
    AffineRecord,
    ConvRecord,
    DlibNet,
    FcRecord,
    InputRecord,
    PoolRecord,
    ReluRecord,
    SkipRecord,
    TagRecord,
    load_face_resnet,
)
from facegate.vision.embedder import CHIP_SIZE, DESCRIPTOR_SIZE, MEAN_RGB

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"

Shape = tuple[int, ...]
"""Per-sample shape of a tensor: (C, H, W) for maps, (features,) once flattened."""


@dataclass
class _Value:
    name: str
    shape: Shape


@dataclass
class _GraphBuilder:
    """Accumulates ONNX nodes and initialisers with deterministic, sequential names."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    counter: int = 0

    def name(self, op: str) -> str:
        self.counter += 1
        return f"{op.lower()}_{self.counter:03d}"

    def constant(self, base: str, array: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        tensor = numpy_helper.from_array(np.ascontiguousarray(array), name=base)
        self.initializers.append(tensor)
        return str(tensor.name)

    def node(self, op: str, inputs: list[str], *, output: str | None = None, **attributes: Any) -> str:
        """Append one node; its name is also its output's name unless ``output`` is given."""
        from onnx import helper

        name = self.name(op)
        output = output or name
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attributes))
        return output


def _conv_output(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _add_prev(graph: _GraphBuilder, a: _Value, b: _Value) -> _Value:
    """dlib's add_prev: output shape is the element-wise max; each operand is zero-padded at the end."""
    if len(a.shape) != len(b.shape):
        raise ModelUnavailable("add_prev between a feature map and a flat vector is not supported")
    target = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
    operands = []
    for value in (a, b):
        missing = [t - s for t, s in zip(target, value.shape, strict=True)]
        if any(missing):
            pads = np.array([0] * (len(target) + 1) + [0, *missing], dtype=np.int64)
            pads_name = graph.constant(graph.name("pads"), pads)
            operands.append(graph.node("Pad", [value.name, pads_name], mode="constant"))
        else:
            operands.append(value.name)
    return _Value(graph.node("Add", operands), target)


def _emit_conv(graph: _GraphBuilder, x: _Value, conv: ConvRecord, affine: AffineRecord | None) -> _Value:
    weights = conv.weights.astype(np.float64)
    bias = conv.bias.astype(np.float64)
    if affine is not None:
        gamma = affine.gamma.reshape(-1).astype(np.float64)
        beta = affine.beta.reshape(-1).astype(np.float64)
        weights = weights * gamma[:, None, None, None]
        bias = bias * gamma + beta
    filters, channels, kh, kw = conv.weights.shape
    if len(x.shape) != 3 or x.shape[0] != channels:
        raise ModelUnavailable(f"conv expects {channels} channels, input is {x.shape}")
    base = graph.name("conv")
    w_name = graph.constant(f"{base}_w", weights.astype(np.float32))
    b_name = graph.constant(f"{base}_b", bias.astype(np.float32))
    (sy, sx), (py, px) = conv.stride, conv.padding
    out = graph.node("Conv", [x.name, w_name, b_name], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
    shape = (filters, _conv_output(x.shape[1], kh, sy, py), _conv_output(x.shape[2], kw, sx, px))
    if conv.fused_relu:
        out = graph.node("Relu", [out])
    return _Value(out, shape)


def _emit_affine(graph: _GraphBuilder, x: _Value, affine: AffineRecord) -> _Value:
    """A stand-alone affine (not after a conv): Mul + Add with broadcastable constants."""
    if len(x.shape) == 1:
        shape: Shape = (1, x.shape[0])
    elif affine.per_channel:
        shape = (1, x.shape[0], 1, 1)
    else:
        shape = (1, *x.shape)
    base = graph.name("affine")
    gamma = graph.constant(f"{base}_gamma", affine.gamma.reshape(shape))
    beta = graph.constant(f"{base}_beta", affine.beta.reshape(shape))
    return _Value(graph.node("Add", [graph.node("Mul", [x.name, gamma]), beta]), x.shape)


def _emit_pool(graph: _GraphBuilder, x: _Value, pool: PoolRecord) -> _Value:
    if len(x.shape) != 3:
        raise ModelUnavailable("pooling a flat vector is not supported")
    channels, height, width = x.shape
    if pool.is_global:
        op = "GlobalMaxPool" if pool.kind == "max" else "GlobalAveragePool"
        return _Value(graph.node(op, [x.name]), (channels, 1, 1))
    (kh, kw), (sy, sx), (py, px) = pool.size, pool.stride, pool.padding
    if pool.kind == "avg" and (py or px):
        raise ModelUnavailable("padded average pooling is not supported")
    op = "MaxPool" if pool.kind == "max" else "AveragePool"
    out = graph.node(op, [x.name], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
    return _Value(out, (channels, _conv_output(height, kh, sy, py), _conv_output(width, kw, sx, px)))


def _emit_fc(graph: _GraphBuilder, x: _Value, fc: FcRecord) -> _Value:
    features = int(np.prod(x.shape))
    if fc.weights.shape[0] != features:
        raise ModelUnavailable(f"fc expects {fc.weights.shape[0]} inputs, gets {features}")
    flat = graph.node("Flatten", [x.name], axis=1) if len(x.shape) > 1 else x.name
    base = graph.name("fc")
    out = graph.node("MatMul", [flat, graph.constant(f"{base}_w", fc.weights)])
    if fc.bias is not None:
        out = graph.node("Add", [out, graph.constant(f"{base}_b", fc.bias)])
    return _Value(out, (fc.weights.shape[1],))


def build_graph(net: DlibNet) -> tuple[_GraphBuilder, _Value]:
    """Walk the layers in forward order; returns the builder and the final value."""
    graph = _GraphBuilder()
    first = net.input
    current = _Value(INPUT_NAME, (3, first.rows or CHIP_SIZE, first.cols or CHIP_SIZE))
    tags: dict[int, _Value] = {}
    layers = net.layers[1:]
    index = 0
    while index < len(layers):
        layer = layers[index]
        index += 1
        match layer:
            case ConvRecord():
                following = layers[index] if index < len(layers) else None
                affine = following if isinstance(following, AffineRecord) and following.per_channel else None
                if affine is not None:
                    index += 1
                current = _emit_conv(graph, current, layer, None if affine is None or affine.disabled else affine)
            case AffineRecord(disabled=False):
                current = _emit_affine(graph, current, layer)
            case ReluRecord(disabled=False):
                current = _Value(graph.node("Relu", [current.name]), current.shape)
            case PoolRecord():
                current = _emit_pool(graph, current, layer)
            case TagRecord(tag=tag):
                tags[tag] = current
            case SkipRecord(tag=tag):
                current = tags[tag]
            case AddPrevRecord(tag=tag):
                current = _add_prev(graph, current, tags[tag])
            case FcRecord():
                current = _emit_fc(graph, current, layer)
            case InputRecord():
                raise ModelUnavailable("a second input layer")
    return graph, current


def net_to_onnx(net: DlibNet) -> Any:
    """The ONNX ``ModelProto`` of a parsed face ResNet (checked with ``onnx.checker``)."""
    import onnx
    from onnx import TensorProto, helper

    means = np.array(net.input.mean_rgb, dtype=np.float32)
    if not np.array_equal(means, MEAN_RGB):
        raise ModelUnavailable(f"model input means {means.tolist()} differ from the runtime's {MEAN_RGB.tolist()}")
    graph, result = build_graph(net)
    if result.shape != (DESCRIPTOR_SIZE,):
        raise ModelUnavailable(f"network output shape {result.shape}, expected ({DESCRIPTOR_SIZE},)")
    graph.node("Identity", [result.name], output=OUTPUT_NAME)
    channels = 3
    rows, cols = net.input.rows or CHIP_SIZE, net.input.cols or CHIP_SIZE
    onnx_graph = helper.make_graph(
        graph.nodes,
        "dlib_face_resnet_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", channels, rows, cols])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", DESCRIPTOR_SIZE])],
        initializer=graph.initializers,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facegate.modelbuild.resnet_onnx",
        producer_version="1",
        doc_string="dlib_face_recognition_resnet_model_v1 (public domain, Davis King); input (pixel - mean_rgb) / 256",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def convert_resnet(dat_path: Path, out_path: Path) -> None:
    """Convert ``dlib_face_recognition_resnet_model_v1.dat`` to an ONNX file (same input, same bytes).

    Raises:
        ModelUnavailable: the .dat file is missing, malformed, or not the expected network.
    """
    model = net_to_onnx(load_face_resnet(dat_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    tmp_path.write_bytes(model.SerializeToString(deterministic=True))
    tmp_path.replace(out_path)

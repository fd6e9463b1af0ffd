"""One ONNX Runtime session per model, configured the same way for every model of the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facegate.errors import ModelUnavailable


def open_session(path: Path, threads: int, what: str) -> Any:
    """An ``InferenceSession`` on the CPU: sequential execution, ``threads`` intra-op threads, full
    graph optimisation, warnings silenced.

    Raises:
        ModelUnavailable: the file is missing or onnxruntime cannot load it (``what`` names it).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelUnavailable(f"cannot load {what} {path.name}") from exc

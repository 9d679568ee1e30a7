"""Parity: ONNX Runtime answers as the Keras source does, proven before writing and again by `verify`."""

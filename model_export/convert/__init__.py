"""TensorFlow to ONNX: the frozen graph converted by tf2onnx, and the edits that give it its final interface."""

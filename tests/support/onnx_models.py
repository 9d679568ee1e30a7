"""Small ONNX models shaped like the exporter's output (probabilities, logits, label metadata), built
with onnx.helper so service tests need no TensorFlow. The exporter's own tests use real Keras models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _metadata(model: onnx.ModelProto, labels: list[str], thresholds: list[float] | None) -> None:
    entries = {"labels": json.dumps(labels), "thresholds": json.dumps(thresholds or [0.5] * len(labels))}
    for key, value in entries.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))


def linear_model(
    path: Path,
    n_features: int = 4,
    labels: tuple[str, ...] = ("a", "b", "c"),
    thresholds: list[float] | None = None,
    seed: int = 0,
    input_name: str = "features",
) -> dict[str, np.ndarray]:
    """logits = x @ W + b; probabilities = Sigmoid(logits). Returns the weights for reference maths."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(n_features, len(labels))).astype(np.float32)
    bias = rng.normal(size=(len(labels),)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [input_name, "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
        ],
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_features])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)]),
        ],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    _save(graph, path, list(labels), thresholds)
    return {"weights": weights, "bias": bias}


def two_input_model(path: Path, labels: tuple[str, ...] = ("x", "y")) -> None:
    """Inputs `numbers` float32 [batch, 3] and `tokens` int64 [batch, 5]; logits mix both."""
    n = len(labels)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["tokens"], ["tokens_f"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["numbers", "W1"], ["a"]),
            helper.make_node("MatMul", ["tokens_f", "W2"], ["t"]),
            helper.make_node("Add", ["a", "t"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("numbers", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", 5]),
        ],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n]),
        ],
        [
            numpy_helper.from_array(np.full((3, n), 0.5, np.float32), "W1"),
            numpy_helper.from_array(np.full((5, n), -0.1, np.float32), "W2"),
        ],
    )
    _save(graph, path, list(labels), None)


def _save(graph: onnx.GraphProto, path: Path, labels: list[str], thresholds: list[float] | None) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    _metadata(model, labels, thresholds)
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))

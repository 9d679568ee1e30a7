"""An exporter-shaped ONNX model that takes long per batch, to have requests in flight during shutdown.

The outputs are a linear model's; a chain of 1024x1024 MatMuls that depends on the input (so ONNX Runtime
cannot fold it away) is multiplied by zero and added to the logits. Cost per batch grows with `steps`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.support.onnx_models import _save

SIZE = 1024


def slow_model(path: Path, steps: int = 24, n_features: int = 4, labels: tuple[str, ...] = ("a", "b", "c")) -> None:
    rng = np.random.default_rng(0)
    n = len(labels)
    initializers = [
        numpy_helper.from_array(rng.normal(size=(n_features, n)).astype(np.float32), "W"),
        numpy_helper.from_array(np.zeros(n, np.float32), "b"),
        numpy_helper.from_array(rng.normal(size=(n_features, SIZE)).astype(np.float32), "W_up"),
        numpy_helper.from_array((rng.normal(size=(SIZE, SIZE)) / SIZE).astype(np.float32), "W_step"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["xw"]),
        helper.make_node("MatMul", ["features", "W_up"], ["up"]),  # [batch, SIZE]
        helper.make_node("Transpose", ["up"], ["up_t"]),
        helper.make_node("MatMul", ["up_t", "up"], ["h0"]),  # [SIZE, SIZE], depends on the input
    ]
    for i in range(steps):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "W_step"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))  # keeps values finite
    nodes += [
        helper.make_node("ReduceSum", [f"h{steps}"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["xw", "b"], ["xwb"]),
        helper.make_node("Add", ["xwb", "nothing"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n]),
        ],
        initializers,
    )
    _save(graph, path, list(labels), None)

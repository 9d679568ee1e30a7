"""The committed demo model (models/digits) matches its contract; needs only onnx + onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import onnx

from model_export.demos.digits import LABELS, digit_labels
from model_export.metadata import read_metadata
from tests.support.onnx_checks import numpy_sigmoid, run_onnx
from tests.support.server import DEMO_REPOSITORY

DEMO = DEMO_REPOSITORY / "digits"


def test_demo_model_interface_and_metadata():
    meta = read_metadata(DEMO / "1" / "model.onnx")
    assert meta.labels == LABELS and meta.thresholds == [0.5] * 5
    assert meta.props["head"] == "appended_sigmoid" and meta.props["logits_exact"] == "true"
    graph = onnx.load(str(DEMO / "1" / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["pixels"]
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == ["batch", 64]
    assert [o.name for o in graph.output] == ["probabilities", "logits"]


def test_demo_examples_are_predicted_as_labelled():
    examples = json.loads((DEMO / "examples.json").read_text())
    instances = np.array(examples["instances"], dtype=np.float32)
    assert instances.shape == (5, 64) and instances.min() >= 0 and instances.max() <= 16
    probabilities, logits = run_onnx(DEMO / "1" / "model.onnx", {"pixels": instances})
    assert np.max(np.abs(probabilities - numpy_sigmoid(logits))) <= 1e-6
    predicted = [[label for label, p in zip(LABELS, row, strict=True) if p >= 0.5] for row in probabilities]
    assert predicted == examples["labels"]
    expected = digit_labels(np.array(examples["digits"]))
    assert [[la for la, on in zip(LABELS, row, strict=True) if on] for row in expected] == examples["labels"]


def test_digit_labels_are_not_mutually_exclusive():
    targets = digit_labels(np.arange(10))
    assert targets[8].tolist() == [1, 0, 1, 1, 0]  # 8: even, at least 5, closed loop
    assert targets[1].sum() == 0 and targets[6].sum() == 4

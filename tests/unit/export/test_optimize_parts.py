"""The parts of `optimize` that need no training: method round trips, the float head, the choice rule, data checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import ExportError
from model_export.calibration.calibrate_command import calibrate_model
from model_export.calibration.threshold_choice import Target
from model_export.optimize.label_comparison import compare_labels
from model_export.optimize.optimize_command import _choose, _problems
from model_export.optimize.result import Measured
from model_export.optimize.speed import batch_of
from model_export.optimize.variants import VARIANT_INT8, Candidate, head_nodes
from tests.support.server import DEMO_REPOSITORY

DEMO = DEMO_REPOSITORY / "digits" / "1" / "model.onnx"


def test_recorded_methods_read_back_as_targets():
    for target in (Target("precision", 0.9), Target("recall", 0.95)):
        assert Target.from_method(target.method) == target
    assert Target.from_method("max_f1") is None
    with pytest.raises(ValueError, match="unknown calibration method"):
        Target.from_method("target_accuracy=0.9")


def test_the_head_stays_float():
    names = head_nodes(onnx.load(str(DEMO)))
    expected = {"appended_sigmoid", "logits_identity", "functional_1/logits_1/BiasAdd", "functional_1/logits_1/MatMul"}
    assert set(names) == expected  # the logits layer and the Sigmoid; the hidden layers stay quantizable


def measured(name: str, speedups: dict[int, float], f1_drop: float = 0.0, must_be_faster: bool = False) -> Measured:
    truth = np.array([[1], [1], [0], [0]], bool)
    float_p = np.array([[0.9], [0.8], [0.2], [0.1]], np.float32)
    new_p = float_p if not f1_drop else np.array([[0.9], [0.3], [0.6], [0.1]], np.float32)  # one FN, one FP
    table = compare_labels(["a"], [0.5], None, float_p, new_p, truth)
    candidate = Candidate(name, VARIANT_INT8, Path(f"{name}.onnx"), must_be_faster=must_be_faster)
    m = Measured(candidate, table, speedups)
    m.problems = _problems(m, tuple(speedups), 0.01, 1.0)
    return m


def test_the_choice_prefers_fit_then_accurate_then_fast():
    fast_but_hurt = measured("hurt", {1: 3.0, 8: 3.0}, f1_drop=0.5)
    slow_dynamic_conv = measured("dynamic with Conv", {1: 0.2, 8: 0.1}, must_be_faster=True)
    fit = measured("fit", {1: 1.2, 8: 1.5})
    assert fast_but_hurt.problems == ["F1 dropped by more than 0.01: 'a' by 0.500"]
    assert slow_dynamic_conv.problems == ["slower than float32 (0.20x at batch 1, 0.10x at batch 8)"]
    assert _choose([fast_but_hurt, slow_dynamic_conv, fit], 0.01) is fit
    slower = measured("slower", {1: 0.9, 8: 0.95})
    assert _choose([fast_but_hurt, slower], 0.01) is slower  # what --force writes: accuracy before speed
    # Even when it alone keeps F1, a slower dynamic int8 convolution is never chosen.
    assert _choose([fast_but_hurt, slow_dynamic_conv], 0.01) is fast_but_hurt


def test_data_of_the_wrong_shape_is_refused_by_calibrate_too(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((3, 8, 8), np.float32), y=np.zeros((3, 5)))
    with pytest.raises(ExportError, match=r"array 'pixels' in bad.npz has shape \[3, 8, 8\]; the model takes"):
        calibrate_model(DEMO, bad, tmp_path / "o.onnx")


def test_batches_repeat_rows_when_the_data_has_fewer():
    rows = {"x": np.arange(3, dtype=np.float32)[:, None]}
    assert batch_of(rows, 8)["x"][:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]

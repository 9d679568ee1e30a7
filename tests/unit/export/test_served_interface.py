"""The export options that shape what clients see, without TensorFlow: --input-name values, --drop-label's columns
and the ONNX graph it cuts, and the label warnings of export and calibrate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from model_export.convert.graph_edits import finish_graph
from model_export.data.label_warnings import CALIBRATE_REMEDY, EXPORT_REMEDY, label_warnings
from model_export.errors import ExportError
from model_export.keras.input_names import is_generated, parse_renames
from model_export.labels import kept_label_columns


def test_renames_are_old_equals_new():
    assert parse_renames(["input_layer_1=text", " a = b "]) == {"input_layer_1": "text", "a": "b"}
    for value, message in [("text", "expects OLD=NEW"), ("a=", "expects OLD=NEW"), ("a=1x", "starts with a letter")]:
        with pytest.raises(ExportError, match=message):
            parse_renames([value])
    with pytest.raises(ExportError, match="renames input 'a' twice"):
        parse_renames(["a=b", "a=c"])


def test_the_names_keras_generates_are_known():
    assert all(map(is_generated, ["input_layer", "input_layer_12", "input_1", "keras_tensor_4"]))
    assert not any(map(is_generated, ["text", "input", "input_text", "abstract"]))


def test_dropped_labels_leave_their_columns_out():
    assert kept_label_columns(["[UNK]", "a", "b"], ["[UNK]"]) == [1, 2]
    assert kept_label_columns(["a", "b"], []) == [0, 1]
    with pytest.raises(ExportError, match="unknown label"):
        kept_label_columns(["a", "b"], ["c"])
    with pytest.raises(ExportError, match="no label to serve"):
        kept_label_columns(["a"], ["a"])


def test_the_graph_serves_the_kept_columns_only(tmp_path: Path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    finish_graph(model, {}, "y", output_is_logits=True, n_labels=2, columns=[1, 3])
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[0.0, 1.0, 2.0, 3.0], [-1.0, -2.0, -3.0, -4.0]], np.float32)
    probabilities, logits = session.run(["probabilities", "logits"], {"x": x})
    np.testing.assert_array_equal(logits, x[:, [1, 3]])
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-x[:, [1, 3]].astype(np.float64))), rtol=1e-5)


def test_label_warnings_name_the_label_and_the_remedy():
    truth = np.array([[0, 1, 0], [0, 1, 1]], bool)
    (unk,) = label_warnings(["[UNK]", "a", "b c"], truth, Path("val.jsonl"), EXPORT_REMEDY)
    assert unk.startswith("label '[UNK]' is the out-of-vocabulary token")
    assert "; it has no positive row in val.jsonl (2 rows)" in unk and "with --drop-label '[UNK]'." in unk
    (no_positive,) = label_warnings(["x", "a", "b c"], truth[:, [0, 1, 1]], Path("v.csv"), CALIBRATE_REMEDY)
    assert no_positive.startswith("label 'x' has no positive row in v.csv")
    assert no_positive.endswith("export the model again with --drop-label x.")
    assert label_warnings(["[UNK]"], None, None, EXPORT_REMEDY)[0].startswith("label '[UNK]' is the out-of")
    assert label_warnings(["a"], None, None, EXPORT_REMEDY) == []

"""Real Keras models through the real exporter; parity asserted against Keras itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import export_model, read_metadata
from model_export.keras.load import call_keras
from model_export.parity.compare import PROBABILITY_TOLERANCE
from service.contract.version import VERSION
from tests.support.onnx_checks import numpy_sigmoid, run_onnx, temp_leftovers

keras = pytest.importorskip("keras")

RNG = np.random.default_rng(123)


def _export(model_files, out_dir: Path, source: str, labels: list[str], **kwargs):
    output = out_dir / source.replace(".", "_") / "1" / "model.onnx"
    report = export_model(model_files(source), output, labels, **kwargs)
    return report, output


@pytest.mark.parametrize("source", ["mlp.keras", "mlp.h5", "mlp.savedmodel"])
def test_linear_head_gets_appended_sigmoid_from_every_format(model_files, out_dir, source):
    report, output = _export(model_files, out_dir, source, ["a", "b", "c"])
    assert report.head == "appended_sigmoid" and report.logits_exact
    assert report.max_abs_error_probabilities <= PROBABILITY_TOLERANCE
    assert output.exists() and not temp_leftovers(output.parent)

    reference = keras.models.load_model(model_files("mlp.keras"), compile=False)
    x = RNG.normal(size=(7, 6)).astype("float32")
    probabilities, logits = run_onnx(output, {"features": x})
    expected_logits = np.asarray(reference(x))
    assert np.max(np.abs(probabilities - numpy_sigmoid(expected_logits))) <= PROBABILITY_TOLERANCE
    assert np.max(np.abs(logits - expected_logits)) <= 1e-4

    nodes = onnx.load(str(output)).graph.node
    assert [n.op_type for n in nodes].count("Sigmoid") == 1


def test_outputs_interface_and_dynamic_batch(model_files, out_dir):
    _, output = _export(model_files, out_dir, "mlp.keras", ["a", "b", "c"])
    graph = onnx.load(str(output)).graph
    assert [o.name for o in graph.output] == ["probabilities", "logits"]
    assert [i.name for i in graph.input] == ["features"]
    for value in (*graph.input, *graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.output[0].type.tensor_type.shape.dim[1].dim_value == 3
    sigmoid = next(n for n in graph.node if n.op_type == "Sigmoid")
    assert list(sigmoid.input) == ["logits"] and list(sigmoid.output) == ["probabilities"]

    for batch in (1, 7, 64):
        probabilities, logits = run_onnx(output, {"features": RNG.normal(size=(batch, 6)).astype("float32")})
        assert probabilities.shape == logits.shape == (batch, 3)
        assert probabilities.dtype == logits.dtype == np.float32
        assert np.max(np.abs(probabilities - numpy_sigmoid(logits))) <= 1e-6


def test_metadata_content(model_files, out_dir):
    report, output = _export(
        model_files, out_dir, "mlp.keras", ["a", "b", "c"], thresholds={"b": 0.7}, default_threshold=0.4
    )
    meta = read_metadata(output)
    assert meta.labels == ["a", "b", "c"] and meta.thresholds == [0.4, 0.7, 0.4]
    props = meta.props
    assert json.loads(props["labels"]) == ["a", "b", "c"]
    assert props["head"] == "appended_sigmoid" and props["logits_exact"] == "true"
    assert props["source_file"] == "mlp.keras" and len(props["source_sha256"]) == 64
    assert props["opset"] == "17" and props["exporter_version"] == VERSION
    assert props["keras_version"] == keras.__version__
    for key in ("tensorflow_version", "tf2onnx_version"):
        assert props[key]
    assert props["exported_at"].endswith("Z")
    model = onnx.load(str(output))
    assert model.producer_name == "sigmoid-serve.model_export" and "mlp.keras" in model.doc_string
    assert report.metadata == props


def test_savedmodel_hash_covers_directory(model_files, out_dir):
    _, output = _export(model_files, out_dir, "mlp.savedmodel", ["a", "b", "c"])
    assert read_metadata(output).props["source_format"] == "saved_model"


def test_sequential_cnn(model_files, out_dir):
    report, output = _export(model_files, out_dir, "cnn.keras", list("wxyz"))
    assert report.max_abs_error_probabilities <= PROBABILITY_TOLERANCE
    model = keras.models.load_model(model_files("cnn.keras"), compile=False)
    x = RNG.random((64, 8, 8, 1)).astype("float32")
    probabilities, _ = run_onnx(output, {"image": x})
    assert np.max(np.abs(probabilities - numpy_sigmoid(call_keras(model, [x])))) <= PROBABILITY_TOLERANCE


def test_two_inputs_float_and_token_ids(model_files, out_dir):
    report, output = _export(model_files, out_dir, "two_inputs.keras", ["p", "q"])
    graph = onnx.load(str(output)).graph
    assert [i.name for i in graph.input] == ["numbers", "token_ids"]
    assert graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert report.max_abs_error_probabilities <= PROBABILITY_TOLERANCE
    model = keras.models.load_model(model_files("two_inputs.keras"), compile=False)
    numbers = RNG.normal(size=(7, 3)).astype("float32")
    tokens = RNG.integers(0, 50, size=(7, 5)).astype("int32")
    probabilities, _ = run_onnx(output, {"numbers": numbers, "token_ids": tokens})
    expected = numpy_sigmoid(call_keras(model, [numbers, tokens]))
    assert np.max(np.abs(probabilities - expected)) <= PROBABILITY_TOLERANCE


@pytest.mark.parametrize("source", ["dense_sigmoid.keras", "activation_sigmoid.keras", "dense_sigmoid.h5"])
def test_sigmoid_head_logits_recovered_without_double_sigmoid(model_files, out_dir, source):
    report, output = _export(model_files, out_dir, source, ["a", "b", "c"])
    assert report.head == "model_sigmoid_logits_recovered" and report.logits_exact
    assert report.max_abs_error_model_output is not None
    assert report.max_abs_error_model_output <= PROBABILITY_TOLERANCE
    model = keras.models.load_model(model_files(source), compile=False)
    x = RNG.normal(size=(7, 5)).astype("float32")
    probabilities, logits = run_onnx(output, {"x": x})
    own = call_keras(model, [x])  # the model's own sigmoid output
    assert np.max(np.abs(probabilities - own)) <= PROBABILITY_TOLERANCE
    assert np.max(np.abs(numpy_sigmoid(logits) - own)) <= PROBABILITY_TOLERANCE
    assert [n.op_type for n in onnx.load(str(output)).graph.node].count("Sigmoid") == 1
    assert read_metadata(output).props["head"] == "model_sigmoid_logits_recovered"


def test_savedmodel_sigmoid_accepted_with_flag(model_files, out_dir):
    report, output = _export(
        model_files, out_dir, "dense_sigmoid.savedmodel", ["a", "b", "c"], accept_sigmoid_output=True
    )
    assert report.head == "model_sigmoid_output_accepted" and not report.logits_exact
    assert read_metadata(output).props["logits_exact"] == "false"
    model = keras.models.load_model(model_files("dense_sigmoid.keras"), compile=False)
    x = RNG.normal(size=(7, 5)).astype("float32")
    probabilities, logits = run_onnx(output, {"x": x})
    own = call_keras(model, [x])
    assert np.max(np.abs(probabilities - own)) <= PROBABILITY_TOLERANCE
    assert np.max(np.abs(numpy_sigmoid(logits) - probabilities)) <= 1e-5
    # Only the model's own sigmoid: none appended on top of it.
    assert [n.op_type for n in onnx.load(str(output)).graph.node].count("Sigmoid") == 1


def test_normalization_constants_and_exact_gelu_are_handled(model_files, out_dir):
    report, output = _export(model_files, out_dir, "norm_gelu.keras", ["a", "b"])
    graph = onnx.load(str(output)).graph
    assert [i.name for i in graph.input] == ["x"]  # adapted mean/variance did not become inputs
    op_types = {n.op_type for n in graph.node}
    assert "Erfc" not in op_types and "Erf" in op_types
    assert report.max_abs_error_probabilities <= PROBABILITY_TOLERANCE


def test_sample_data_npz_drives_parity(model_files, out_dir, tmp_path):
    sample = tmp_path / "sample.npz"
    np.savez(sample, numbers=RNG.normal(size=(5, 3)), token_ids=RNG.integers(0, 50, size=(5, 5)))
    report, _ = _export(model_files, out_dir, "two_inputs.keras", ["p", "q"], sample_data=sample)
    assert report.batch_sizes == [1, 5]


def test_opset_18_works(model_files, out_dir):
    report, output = _export(model_files, out_dir, "mlp.keras", ["a", "b", "c"], opset=18)
    assert report.opset == 18
    assert next(o.version for o in onnx.load(str(output)).opset_import if o.domain == "") == 18

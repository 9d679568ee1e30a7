"""The architectures users bring, in every format Keras can reload, through the real exporter.

Each model is built once per session (tests/support/architectures.py) and saved as .keras, .h5 and SavedModel
(the keras.applications backbones as .keras only). Parity is asserted twice: the exporter's own check (batches 1, 7,
64) and an independent ONNX Runtime vs Keras comparison on fresh rows. Every model here meets the exporter's default
bound of 1e-5 on probabilities; none needs a looser one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import ExportError, export_model, read_metadata
from model_export.keras.load import call_keras
from model_export.parity.compare import PROBABILITY_TOLERANCE
from tests.support.onnx_checks import numpy_sigmoid, run_onnx

keras = pytest.importorskip("keras")
from tests.support import architectures  # noqa: E402  (needs keras)

BATCHES = (1, 7, 64)
# Keras 3 cannot reload these from legacy .h5 (it fails inside keras.models.load_model); .keras and
# SavedModel cover them. The exporter's message for such a file is tested below.
NO_H5 = {"subclassed", "transformer_block", "mobilenet_v3_small"}
SLOW = {"mobilenet_v3_small", "efficientnet_b0"}
# The keras.applications backbones prove graph coverage (depthwise convolutions, squeeze-and-excitation, hard-swish),
# which the file format does not change; the small models above prove every format. So the backbones go through
# .keras alone: each other format cost them minutes of TensorFlow for nothing new.
ONE_FORMAT = SLOW


def _cases() -> list:
    cases = []
    for name in architectures.BUILDERS:
        for fmt in ("keras", "h5", "savedmodel"):
            if (fmt == "h5" and name in NO_H5) or (fmt != "keras" and name in ONE_FORMAT):
                continue
            marks = [pytest.mark.slow] if name in SLOW else []
            cases.append(pytest.param(name, fmt, id=f"{name}.{fmt}", marks=marks))
    return cases


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """built(name, fmt) → (in-memory Keras model, saved source path); each model built once."""
    directory = tmp_path_factory.mktemp("architectures")
    models: dict[str, keras.Model] = {}
    paths: dict[tuple[str, str], Path] = {}

    def get(name: str, fmt: str) -> tuple[keras.Model, Path]:
        if name not in models:
            models[name] = architectures.BUILDERS[name]()
        if (name, fmt) not in paths:
            path = directory / f"{name}.{fmt}"
            if fmt == "savedmodel":
                models[name].export(str(path), verbose=False)
            else:
                models[name].save(path)
            paths[name, fmt] = path
        return models[name], paths[name, fmt]

    return get


def fresh_rows(model_inputs: dict[str, tuple], rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    batch = {}
    for name, (shape, dtype) in model_inputs.items():
        if np.issubdtype(np.dtype(dtype), np.integer):
            batch[name] = rng.integers(0, architectures.VOCAB, size=(rows, *shape)).astype(dtype)
        else:
            batch[name] = rng.normal(size=(rows, *shape)).astype(dtype)
    return batch


def onnx_inputs(path: Path) -> dict[str, tuple]:
    mapping = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT32: "int32", onnx.TensorProto.INT64: "int64"}
    result = {}
    for value in onnx.load(str(path)).graph.input:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch"
        result[value.name] = (tuple(d.dim_value for d in dims[1:]), mapping[value.type.tensor_type.elem_type])
    return result


@pytest.mark.parametrize(("name", "fmt"), _cases())
def test_architecture_exports_with_parity(built, tmp_path, name, fmt):
    model, source = built(name, fmt)
    n_labels = 2 if name == "adapted_normalization" else (4 if name == "cnn_batchnorm_dropout" else 3)
    labels = [f"label_{i}" for i in range(n_labels)]
    output = tmp_path / name / "1" / "model.onnx"
    report = export_model(source, output, labels, batch_sizes=BATCHES)
    assert report.batch_sizes == list(BATCHES)
    assert report.max_abs_error_probabilities <= PROBABILITY_TOLERANCE
    assert report.head == "appended_sigmoid" and report.logits_exact
    assert read_metadata(output).labels == labels

    inputs = onnx_inputs(output)
    rng = np.random.default_rng(len(name))
    for rows in BATCHES:
        batch = fresh_rows(inputs, rows, rng)
        probabilities, logits = run_onnx(output, batch)
        assert probabilities.shape == logits.shape == (rows, n_labels)
        expected = numpy_sigmoid(call_keras(model, _in_keras_order(model, batch)))
        assert np.max(np.abs(probabilities - expected)) <= PROBABILITY_TOLERANCE
    # Exactly one head Sigmoid, fed by the logits (gates and squeeze-excite blocks have their own).
    heads = [n for n in onnx.load(str(output)).graph.node if "probabilities" in n.output]
    assert [(n.op_type, list(n.input)) for n in heads] == [("Sigmoid", ["logits"])]


def _in_keras_order(model: keras.Model, batch: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A SavedModel signature may list inputs in another order than model.inputs: match by name."""
    if len(batch) == 1:
        return list(batch.values())
    return [batch[tensor.name] for tensor in model.inputs]


def test_recurrent_layers_become_onnx_rnn_ops(built, tmp_path):
    """LSTM converts to one ONNX LSTM node; without the unlowered freeze it failed on TensorListReserve."""
    _, source = built("embedding_lstm", "keras")
    output = tmp_path / "lstm.onnx"
    export_model(source, output, ["a", "b", "c"])
    assert "LSTM" in {n.op_type for n in onnx.load(str(output)).graph.node}


def test_legacy_h5_keras_cannot_reload_gets_a_way_out(built, tmp_path):
    model, _ = built("transformer_block", "keras")
    path = tmp_path / "transformer.h5"
    model.save(path)
    with pytest.raises(ExportError) as info:
        export_model(path, tmp_path / "t.onnx", ["a", "b", "c"])
    message = str(info.value)
    assert "Keras could not load transformer.h5" in message
    assert "model.save('model.keras')" in message and "model.export('dir')" in message


def test_subclassed_input_is_named_after_call_argument(built, tmp_path):
    _, source = built("subclassed", "keras")
    output = tmp_path / "sub.onnx"
    report = export_model(source, output, ["a", "b", "c"])
    assert report.input_names == ["inputs"]
    assert "subclassed model" in report.head_explanation

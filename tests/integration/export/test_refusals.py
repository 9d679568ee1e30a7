"""Models and arguments the exporter must refuse, with a message a person can act on, writing nothing."""

from __future__ import annotations

import numpy as np
import pytest

from model_export import ExportError, export_model

keras = pytest.importorskip("keras")


def _refused(model_files, tmp_path, source, labels, **kwargs) -> str:
    output = tmp_path / "m" / "1" / "model.onnx"
    with pytest.raises(ExportError) as info:
        export_model(model_files(source) if isinstance(source, str) else source, output, labels, **kwargs)
    assert not output.exists()
    return str(info.value)


def test_softmax_head_refused(model_files, tmp_path):
    message = _refused(model_files, tmp_path, "softmax.keras", ["a", "b", "c"])
    assert "softmax" in message and "single-label" in message
    assert "BinaryCrossentropy(from_logits=True)" in message


def test_linear_head_with_probability_loss_refused(model_files, tmp_path):
    for source in ("mlp_probability_loss.keras", "mlp_probability_loss.h5"):
        message = _refused(model_files, tmp_path, source, ["a", "b", "c"])
        assert "linear" in message and "contradict" in message


def test_savedmodel_ending_in_sigmoid_refused_without_flag(model_files, tmp_path):
    message = _refused(model_files, tmp_path, "dense_sigmoid.savedmodel", ["a", "b", "c"])
    assert "[0.5, 0.73]" in message and "--accept-sigmoid-output" in message


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        (["a", "b"], "outputs 3 columns but 2 labels"),
        (["a", "b", "c", "d"], "outputs 3 columns but 4 labels"),
        (["a", "a", "b"], "unique"),
        (["a", "", "b"], "non-empty"),
        ([], "no labels"),
    ],
)
def test_bad_labels_refused(model_files, tmp_path, labels, fragment):
    assert fragment in _refused(model_files, tmp_path, "mlp.keras", labels)


def test_labels_given_as_one_string_are_named_as_such(model_files, tmp_path):
    message = _refused(model_files, tmp_path, "mlp.keras", "cat,dog,bird")
    assert message == (
        'labels must be a list of names, one per output column: pass ["cat", "dog", "bird"], '
        'not the one string "cat,dog,bird"'
    )


def test_bad_thresholds_refused(model_files, tmp_path):
    assert "within [0, 1]" in _refused(model_files, tmp_path, "mlp.keras", ["a", "b", "c"], thresholds={"a": 1.5})
    assert "unknown label" in _refused(model_files, tmp_path, "mlp.keras", ["a", "b", "c"], thresholds={"z": 0.1})


def test_opset_above_18_refused(model_files, tmp_path):
    assert "up to opset 18" in _refused(model_files, tmp_path, "mlp.keras", ["a", "b", "c"], opset=19)


def test_multiple_outputs_refused(tmp_path):
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    path = tmp_path / "two_heads.keras"
    model.save(path)
    assert "2 outputs" in _refused(None, tmp_path, path, ["a", "b"])


def test_savedmodel_with_string_input_refused(tmp_path):
    vectorizer = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorizer.adapt(np.array(["a b c", "b c d"]))
    inputs = keras.Input((1,), dtype="string", name="text")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 3)(vectorizer(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    model.export(str(tmp_path / "text_savedmodel"), verbose=False)
    message = _refused(None, tmp_path, tmp_path / "text_savedmodel", ["a", "b"])
    assert "raw strings" in message and "Export from the .keras (or .h5) file" in message


def test_missing_source_refused(tmp_path):
    assert "does not exist" in _refused(None, tmp_path, tmp_path / "nope.keras", ["a"])


@keras.saving.register_keras_serializable("tests_export")
class SubclassedSigmoid(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.head = keras.layers.Dense(3, activation="sigmoid")

    def call(self, inputs):
        return self.head(inputs)


def test_subclassed_model_ending_in_sigmoid_refused_in_both_formats(tmp_path):
    model = SubclassedSigmoid()
    model(np.zeros((1, 4), "float32"))
    model.save(tmp_path / "sub.keras")
    model.export(str(tmp_path / "sub_savedmodel"), verbose=False)
    # No layer graph to inspect: both are judged from the traced graph, whose last op is Sigmoid.
    for source in (tmp_path / "sub.keras", tmp_path / "sub_savedmodel"):
        message = _refused(None, tmp_path, source, ["a", "b", "c"])
        assert "last op is Sigmoid" in message and "--accept-sigmoid-output" in message

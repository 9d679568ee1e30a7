"""Text models the exporter must refuse, with one message naming the layer and what to change, writing nothing;
and the NaN an empty text gives in Keras, which becomes a declared 400 instead of a served NaN."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from model_export import ExportError, export_model
from service.contract.text.keras_layers import text_steps_from_metadata
from tests.support.text_models import ROOT

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

TEXTS = np.asarray(["the cat sat", "a dog ran", "the sun"], dtype=object)


@keras.saving.register_keras_serializable("tests_text")
def shout(texts):
    return tf.strings.upper(texts)


@keras.saving.register_keras_serializable("tests_text")
def split_on_commas(texts):
    return tf.strings.split(texts, ",")


def _text_model(
    vectorizer_args: dict | None = None, string_shape: tuple = (1,), layer=None, adapt: bool = True, head=None
):
    keras.utils.set_random_seed(0)
    text = keras.Input(string_shape, dtype="string", name="text")
    layer = layer or keras.layers.TextVectorization(name="words", **(vectorizer_args or {}))
    if adapt and isinstance(layer, keras.layers.TextVectorization):
        layer.adapt(tf.constant(TEXTS)[:, None] if string_shape == (1,) else tf.constant(TEXTS))
    features = (head or _pooled)(layer(text))
    return keras.Model(text, keras.layers.Dense(2)(features))


def _pooled(vectorized):
    if vectorized.dtype == "int64":
        return keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40, 4)(vectorized))
    return keras.layers.Dense(4)(vectorized)


def _refused(model, tmp_path, suffix: str = ".keras") -> str:
    source = tmp_path / f"text{suffix}"
    model.save(source)
    output = tmp_path / "m" / "1" / "model.onnx"
    with pytest.raises(ExportError) as info:
        export_model(source, output, ["a", "b"])
    assert not output.parent.exists() or not any(output.parent.iterdir())
    return str(info.value)


@pytest.mark.parametrize(("argument", "function"), [("standardize", shout), ("split", split_on_commas)])
def test_custom_callable_refused(tmp_path, argument, function):
    message = _refused(_text_model({argument: function, "output_sequence_length": 4}), tmp_path)
    assert f"TextVectorization layer 'words' has a custom {argument} function" in message
    assert "built-in" in message


def test_ragged_output_refused(tmp_path):
    model = _text_model({"ragged": True}, head=lambda x: keras.layers.Dense(4)(keras.layers.Embedding(40, 4)(x)))
    assert "ragged=True" in _refused(model, tmp_path)


def test_sparse_output_refused(tmp_path):
    assert "sparse=True" in _refused(_text_model({"output_mode": "multi_hot", "sparse": True}, ()), tmp_path)


def test_string_input_into_another_layer_refused(tmp_path):
    text = keras.Input((1,), dtype="string", name="text")
    hashed = keras.layers.Hashing(num_bins=8, output_mode="one_hot")(text)
    message = _refused(keras.Model(text, keras.layers.Dense(2)(hashed)), tmp_path)
    assert "string input 'text' goes into layer 'hashing' (Hashing)" in message


def test_text_layer_inside_a_nested_model_refused(tmp_path):
    vectorizer = keras.layers.TextVectorization(output_sequence_length=4)
    vectorizer.adapt(tf.constant(TEXTS)[:, None])
    inner = keras.Sequential(
        [keras.Input((1,), dtype="string"), vectorizer, keras.layers.Embedding(40, 4)], name="inner"
    )
    text = keras.Input((1,), dtype="string", name="text")
    pooled = keras.layers.GlobalAveragePooling1D()(inner(text))
    message = _refused(keras.Model(text, keras.layers.Dense(2)(pooled)), tmp_path)
    assert "string input 'text' goes into layer 'inner' (Sequential)" in message


def test_several_strings_per_row_refused(tmp_path):
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")
    message = _refused(_text_model(string_shape=(3,), layer=lookup), tmp_path)
    assert "has shape [None, 3]" in message and "one string per example" in message


def test_split_none_on_scalar_input_refused(tmp_path):
    message = _refused(_text_model({"split": None}, string_shape=()), tmp_path)
    assert "split=None" in message and "mixes the rows of a batch" in message


def test_oov_hashing_refused(tmp_path):
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=2, output_mode="one_hot")
    assert "FarmHash" in _refused(_text_model(layer=lookup), tmp_path)


def test_adapted_vocabulary_lost_in_h5_refused(tmp_path):
    message = _refused(_text_model({"output_sequence_length": 4}), tmp_path, ".h5")
    assert "empty vocabulary" in message and "Save the model as .keras" in message


def test_refusal_through_the_cli_is_one_line_and_exit_2(tmp_path):
    source = tmp_path / "ragged.keras"
    _text_model({"ragged": True}, head=lambda x: keras.layers.Dense(4)(keras.layers.Embedding(40, 4)(x))).save(source)
    output = tmp_path / "out" / "1" / "model.onnx"
    command = [sys.executable, "-m", "model_export", str(source), "--output", str(output), "--labels", "a,b"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    assert result.returncode == 2 and not output.exists()
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "ragged=True" in lines[0] and "Traceback" not in result.stderr


def test_empty_text_giving_nan_becomes_a_declared_400(tmp_path):
    """A fixed-length model whose masked average has nothing to average: Keras answers NaN, the service a 400."""

    def masked_average(ids):
        return keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40, 4, mask_zero=True)(ids))

    model = _text_model({"output_sequence_length": 5}, head=masked_average)
    assert np.isnan(np.asarray(model(np.asarray([[""]], dtype=object)))).all()
    source, output = tmp_path / "masked.keras", tmp_path / "masked" / "1" / "model.onnx"
    model.save(source)
    report = export_model(source, output, ["a", "b"])
    assert "with no token (answered 400, never NaN)" in report.format()
    props = {p.key: p.value for p in onnx.load(str(output)).metadata_props}
    (step,) = text_steps_from_metadata(props)
    assert step.needs_token and not step.variable_length and step.row_shape == (5,)


def test_text_step_mismatch_fails_the_export_and_writes_nothing(tmp_path, monkeypatch):
    """If the step ever disagreed with Keras (here: '!' no longer counted as punctuation), nothing is written."""
    import service.contract.text.keras_layers as text_step

    monkeypatch.setattr(text_step, "_PUNCTUATION", text_step._PUNCTUATION.replace(b"!", b""))
    source, output = tmp_path / "m.keras", tmp_path / "m" / "1" / "model.onnx"
    _text_model({"output_sequence_length": 4}).save(source)
    with pytest.raises(ExportError, match="differs from Keras layer 'words'.*Nothing was written"):
        export_model(source, output, ["a", "b"])
    assert not output.exists()

"""with_sigmoid(): a sigmoid active only at inference, on the same weights the logits model trains."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from model_export import ExportError, export_model
from model_export.keras.inference_model import with_sigmoid
from tests.support.onnx_checks import numpy_sigmoid, run_onnx

LABELS = ["a", "b", "c"]


def logits_mlp(seed: int = 1, compile_loss: bool = True) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(len(LABELS), name="logits")(hidden), name="mlp")
    if compile_loss:
        model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def rows(n: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, 6)).astype(np.float32)


def test_outputs_sigmoid_of_the_logits_with_the_same_weights() -> None:
    logits_model = logits_mlp()
    inference = with_sigmoid(logits_model)
    x = rows()
    logits = logits_model.predict(x, verbose=0)
    np.testing.assert_allclose(inference.predict(x, verbose=0), numpy_sigmoid(logits), atol=1e-6)
    assert inference.layers[-1].name == "probabilities"
    assert {id(v) for v in inference.weights} == {id(v) for v in logits_model.weights}  # shared, not copied


def test_training_the_logits_model_moves_the_inference_model() -> None:
    logits_model = logits_mlp()
    inference = with_sigmoid(logits_model)
    x, targets = rows(64, seed=1), (rows(64, seed=2)[:, :3] > 0).astype(np.float32)
    before = inference.predict(x, verbose=0)
    logits_model.fit(x, targets, epochs=2, batch_size=16, verbose=0)  # training sees logits only
    after = inference.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, numpy_sigmoid(logits_model.predict(x, verbose=0)), atol=1e-6)


def test_sequential_model_and_save_load_round_trip(tmp_path: Path) -> None:
    keras.utils.set_random_seed(4)
    sequential = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    inference = with_sigmoid(sequential, name="cnn_inference")
    x = np.random.default_rng(5).normal(size=(4, 8, 8, 1)).astype(np.float32)
    expected = numpy_sigmoid(sequential.predict(x, verbose=0))
    inference.save(tmp_path / "inference.keras")
    reloaded = keras.saving.load_model(tmp_path / "inference.keras")
    assert reloaded.name == "cnn_inference"
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("last_layer", "message"),
    [
        (lambda: keras.layers.Dense(3, activation="sigmoid"), "an inference model already"),
        (lambda: keras.layers.Activation("sigmoid"), "an inference model already"),
        (lambda: keras.layers.Dense(3, activation="softmax"), "softmax"),
        (lambda: keras.layers.Softmax(), "softmax"),
        (lambda: keras.layers.Dense(3, activation="relu"), "relu"),
    ],
)
def test_refuses_a_head_that_is_not_logits(last_layer, message: str) -> None:
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(3)(inputs)
    model = keras.Model(inputs, last_layer()(hidden))
    with pytest.raises(ExportError, match=message):
        with_sigmoid(model)


def test_a_sigmoid_head_is_described_without_an_export() -> None:
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="scores")(inputs), name="tagger")
    with pytest.raises(ExportError) as refused:
        with_sigmoid(model)
    assert str(refused.value).startswith(
        "model 'tagger' already ends in a sigmoid (its last layer 'scores' applies one): it is an inference model"
    )
    assert "export" not in str(refused.value)


def test_refuses_a_linear_head_trained_on_probabilities() -> None:
    model = logits_mlp(compile_loss=False)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=False))
    with pytest.raises(ExportError, match="from_logits=False"):
        with_sigmoid(model)


def test_refuses_a_subclassed_model() -> None:
    class Subclassed(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ExportError, match="functional or Sequential"):
        with_sigmoid(Subclassed())


def test_equals_the_exported_onnx_probabilities(tmp_path: Path) -> None:
    """Keras with_sigmoid and the exporter's ONNX model (appended Sigmoid) give the same probabilities."""
    logits_model = logits_mlp(seed=3)
    logits_model.save(tmp_path / "mlp.keras")
    export_model(tmp_path / "mlp.keras", tmp_path / "mlp.onnx", LABELS)
    x = rows(17, seed=6)
    onnx_probabilities, onnx_logits = run_onnx(tmp_path / "mlp.onnx", {"features": x})
    keras_probabilities = with_sigmoid(logits_model).predict(x, verbose=0)
    np.testing.assert_allclose(keras_probabilities, onnx_probabilities, atol=1e-6)
    np.testing.assert_allclose(logits_model.predict(x, verbose=0), onnx_logits, atol=1e-5)

    # The inference model itself exports too: the exporter finds its sigmoid and does not apply a second one.
    with_sigmoid(logits_model).save(tmp_path / "inference.keras")
    report = export_model(tmp_path / "inference.keras", tmp_path / "inference.onnx", LABELS)
    assert report.head == "model_sigmoid_logits_recovered"
    again, _ = run_onnx(tmp_path / "inference.onnx", {"features": x})
    np.testing.assert_allclose(again, onnx_probabilities, atol=1e-6)

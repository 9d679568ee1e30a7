"""Real Keras models, built once per session, saved in the formats the exporter reads."""

from __future__ import annotations

import hashlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # also silences TF's oneDNN start-up notice

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.support.build_once import build_once  # noqa: E402

keras = pytest.importorskip("keras")

LOGITS_LOSS = "logits"  # marker: compile with BinaryCrossentropy(from_logits=True)


def _compile(model: keras.Model, loss: str | None) -> keras.Model:
    if loss == LOGITS_LOSS:
        model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    elif loss is not None:
        model.compile(optimizer="adam", loss=loss)
    return model


def functional_mlp(loss: str | None = LOGITS_LOSS) -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    return _compile(keras.Model(inputs, keras.layers.Dense(3, name="logits")(hidden)), loss)


def sequential_cnn() -> keras.Model:
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    return _compile(model, LOGITS_LOSS)


def two_input_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    numbers = keras.Input((3,), name="numbers")
    tokens = keras.Input((5,), dtype="int32", name="token_ids")
    embedded = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 4)(tokens))
    merged = keras.layers.Concatenate()([numbers, embedded])
    return _compile(keras.Model([numbers, tokens], keras.layers.Dense(2)(merged)), LOGITS_LOSS)


def dense_sigmoid_head() -> keras.Model:
    keras.utils.set_random_seed(4)
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    return _compile(keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden)), None)


def activation_sigmoid_head() -> keras.Model:
    keras.utils.set_random_seed(5)
    inputs = keras.Input((5,), name="x")
    logits = keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(inputs))
    return _compile(keras.Model(inputs, keras.layers.Activation("sigmoid")(logits)), None)


def softmax_head() -> keras.Model:
    keras.utils.set_random_seed(6)
    inputs = keras.Input((5,), name="x")
    return _compile(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)), None)


def normalization_gelu_model() -> keras.Model:
    """Adapted Normalization (constants → inputs bug) and exact GELU (Erfc) in one model."""
    keras.utils.set_random_seed(7)
    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(0).normal(3.0, 2.0, size=(64, 4)).astype("float32"))
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="gelu")(norm(inputs))
    return _compile(keras.Model(inputs, keras.layers.Dense(2)(hidden)), LOGITS_LOSS)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """model_files("mlp.keras") → path of that model saved once for the session."""
    directory = tmp_path_factory.mktemp("sources")
    builders = {
        "mlp": functional_mlp,
        "mlp_probability_loss": lambda: functional_mlp(loss="binary_crossentropy"),
        "cnn": sequential_cnn,
        "two_inputs": two_input_model,
        "dense_sigmoid": dense_sigmoid_head,
        "activation_sigmoid": activation_sigmoid_head,
        "softmax": softmax_head,
        "norm_gelu": normalization_gelu_model,
    }
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            stem, _, fmt = name.partition(".")
            model = builders[stem]()
            path = directory / name
            if fmt == "savedmodel":
                model.export(str(path), verbose=False)
            else:
                model.save(path)
            cache[name] = path
        return cache[name]

    return get


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def trained_cnn(tmp_path_factory: pytest.TempPathFactory):  # -> tests.support.trained_cnn.TrainedCnn
    """A small CNN trained on the digits as images, exported and calibrated: built once per session."""
    from tests.support.trained_cnn import build_trained_cnn

    return build_once(tmp_path_factory, "trained_cnn", build_trained_cnn)


@pytest.fixture(scope="session")
def text_exports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """{config name: ExportedTextModel}: the configs this session's selected tests use, each trained and exported
    through the CLI once (two CLI processes at a time), whichever test files ask for them."""
    from tests.support.text_models import CONFIGS, build_and_export_all

    selected = {
        item.callspec.params["config"].name
        for item in request.session.items
        if hasattr(item, "callspec") and "config" in item.callspec.params and "text_exports" in item.fixturenames
    }
    configs = [c for c in CONFIGS if c.name in selected]
    key = hashlib.sha256(" ".join(sorted(c.name for c in configs)).encode()).hexdigest()[:16]  # the same configs
    return build_once(tmp_path_factory, f"text_models-{key}", lambda folder: build_and_export_all(configs, folder))

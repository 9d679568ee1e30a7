"""Text models for the tests: one per TextVectorization configuration the exporter serves, the tricky corpus, and
`build_and_export(config, folder)`, which trains a tiny model and exports it through the real CLI.

Shared by the exporter's tests and the service's: the corpus is what every protocol must answer as Keras does.
`keras_probabilities` is the reference: sigmoid of the Keras model's logits, each row scored alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_export.text.corpus import TRICKY_TEXTS
from tests.support.server import ROOT

LABELS = ["animals", "food", "weather"]
COUNTRIES = ["fr", "de", "jp"]  # the categorical input of the mixed model (StringLookup)
_TOPIC_WORDS = {
    "animals": ["cat", "dog", "horse", "bird", "fish", "cow", "lion", "mouse"],
    "food": ["bread", "cheese", "apple", "soup", "rice", "cake", "pasta", "café"],
    "weather": ["rain", "sun", "snow", "wind", "storm", "cloud", "fog", "été"],
}
_FILLER = ["the", "a", "and", "with", "in", "on", "today", "very", "some", "of", "ΣΊΣΥΦΟΣ", "москва", "東京"]
SHORT_SEQUENCE = 12


@dataclass(frozen=True)
class TextConfig:
    """A TextVectorization configuration and the model around it."""

    name: str
    vectorizer: dict[str, Any] = field(default_factory=dict)  # TextVectorization arguments
    slow: bool = False  # `make test-fast` skips its tests
    string_shape: tuple[int, ...] = (1,)  # keras.Input(shape=...) of the text
    head: str = "pooled"  # int mode: "pooled" (Embedding + average) or "lstm"; other modes: Dense layers
    mixed: bool = False  # adds a numeric input and a StringLookup categorical input
    suffix: str = ".keras"

    @property
    def variable_length(self) -> bool:
        mode = self.vectorizer.get("output_mode", "int")
        return mode == "int" and self.vectorizer.get("output_sequence_length") is None and self.splits

    @property
    def splits(self) -> bool:
        return self.vectorizer.get("split", "whitespace") is not None


_GIVEN_VOCABULARY = ["the", "cat", "dog", "bread", "rain", "sun", "cheese", "snow", "café", "été"]
CONFIGS = [
    TextConfig("padded", {"output_sequence_length": SHORT_SEQUENCE}),
    TextConfig("variable_length", {}),
    TextConfig("variable_length_lstm", {}, head="lstm", slow=True),
    TextConfig("lower", {"standardize": "lower", "output_sequence_length": SHORT_SEQUENCE}, slow=True),
    TextConfig(
        "strip_punctuation", {"standardize": "strip_punctuation", "output_sequence_length": SHORT_SEQUENCE}, slow=True
    ),
    TextConfig("no_standardize", {"standardize": None, "output_sequence_length": SHORT_SEQUENCE}, slow=True),
    TextConfig("characters", {"split": "character", "output_sequence_length": 40}),
    TextConfig("no_split", {"split": None}, slow=True),
    TextConfig("ngrams_int", {"ngrams": 2, "output_sequence_length": 16}, slow=True),
    TextConfig("ngrams_tuple_multi_hot", {"ngrams": (1, 3), "output_mode": "multi_hot"}, string_shape=(), slow=True),
    TextConfig("max_tokens", {"max_tokens": 12, "output_sequence_length": SHORT_SEQUENCE}, slow=True),
    TextConfig(
        "given_vocabulary", {"vocabulary": _GIVEN_VOCABULARY, "output_sequence_length": SHORT_SEQUENCE}, slow=True
    ),
    TextConfig("multi_hot", {"output_mode": "multi_hot"}, string_shape=(), slow=True),
    TextConfig(
        "count", {"output_mode": "count", "max_tokens": 30, "pad_to_max_tokens": True}, string_shape=(), slow=True
    ),
    TextConfig("tf_idf", {"output_mode": "tf_idf"}, string_shape=()),
    TextConfig("scalar_string_input", {"output_sequence_length": SHORT_SEQUENCE}, string_shape=(), slow=True),
    TextConfig("mixed_inputs", {"output_sequence_length": SHORT_SEQUENCE}, mixed=True),
    TextConfig(
        "h5_given_vocabulary", {"vocabulary": _GIVEN_VOCABULARY, "output_sequence_length": 8}, suffix=".h5", slow=True
    ),
]
CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}


def config_parameters() -> list[Any]:
    """Every configuration as a pytest `config` parameter (slow ones marked), for tests using `text_exports`."""
    import pytest

    return [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CONFIGS]


# Everything the service must answer as Keras does (texts with no token: a 400 when a step needs one).
CORPUS: list[str] = [
    *TRICKY_TEXTS,
    "The CAT and the dog eat bread.",
    "rain, rain\tand SNOW!\n\nsun",
    "café été CAFÉ ÉTÉ",
    " ".join(["cat dog bread rain"] * 60),  # far longer than any output_sequence_length
    "unknownword anotherunknownword",
]


@dataclass
class ExportedTextModel:
    config: TextConfig
    source: Path  # the saved Keras model
    onnx: Path
    export_output: str  # what the CLI printed


def training_data(seed: int = 0, rows: int = 240) -> tuple[list[str], np.ndarray]:
    """Sentences about 1 to 3 topics (the labels co-occur), mixed case and punctuation."""
    rng = random.Random(seed)
    texts, targets = [], []
    for _ in range(rows):
        topics = rng.sample(LABELS, rng.choice([1, 1, 2, 3]))
        words = [rng.choice(_TOPIC_WORDS[t]) for t in topics for _ in range(rng.randint(1, 3))]
        words += rng.sample(_FILLER, rng.randint(1, 4))
        rng.shuffle(words)
        words = [w.capitalize() if rng.random() < 0.2 else w for w in words]
        texts.append(" ".join(words) + rng.choice(["", ".", "!", " ?"]))
        targets.append([label in topics for label in LABELS])
    return texts, np.asarray(targets, np.float32)


def build_model(config: TextConfig, texts: list[str]) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    vectorizer = keras.layers.TextVectorization(name="vectorizer", **config.vectorizer)
    if "vocabulary" not in config.vectorizer:
        vectorizer.adapt(np.asarray(texts, dtype=object))
    text = keras.Input(config.string_shape, dtype="string", name="text")
    features = _text_features(keras, config, vectorizer, vectorizer(text))
    inputs = [text]
    if config.mixed:
        amount = keras.Input((2,), name="amount")
        country = keras.Input((1,), dtype="string", name="country")
        one_hot = keras.layers.StringLookup(vocabulary=COUNTRIES, output_mode="one_hot", name="country_lookup")
        features = keras.layers.Concatenate()([features, amount, one_hot(country)])
        inputs += [amount, country]
    logits = keras.layers.Dense(len(LABELS), name="logits")(features)
    model = keras.Model(inputs, logits, name=config.name)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _text_features(keras: Any, config: TextConfig, vectorizer: Any, vectorized: Any) -> Any:
    if config.vectorizer.get("output_mode", "int") != "int":
        return keras.layers.Dense(8, activation="relu")(vectorized)
    embedded = keras.layers.Embedding(vectorizer.vocabulary_size(), 8)(vectorized)
    if config.head == "lstm":
        return keras.layers.LSTM(8)(embedded)
    return keras.layers.GlobalAveragePooling1D()(embedded)


def keras_inputs(config: TextConfig, texts: list[str], seed: int = 0) -> list[Any]:
    """The Keras model's inputs for these texts (and, for the mixed model, seeded numbers and countries)."""
    strings = np.asarray(texts, dtype=object)
    inputs = [strings[:, None] if config.string_shape == (1,) else strings]
    if config.mixed:
        rng = np.random.default_rng(seed)
        inputs.append(rng.normal(size=(len(texts), 2)).astype(np.float32))
        countries = np.asarray([(COUNTRIES + ["xx"])[i % 4] for i in range(len(texts))], dtype=object)
        inputs.append(countries[:, None])
    return inputs


def keras_probabilities(model: Any, config: TextConfig, texts: list[str], seed: int = 0) -> np.ndarray:
    """sigmoid(logits) with each row scored alone (as the service must answer it), float64."""
    import tensorflow as tf

    signature = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in model.inputs]
    forward = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0]), input_signature=signature)
    inputs = keras_inputs(config, texts, seed)
    rows = []
    for i in range(len(texts)):
        try:
            rows.append(np.asarray(forward(*[x[i : i + 1] for x in inputs]), np.float64))
        except tf.errors.InvalidArgumentError:  # e.g. an LSTM over zero tokens: Keras has no answer either
            rows.append(np.full((1, len(LABELS)), np.nan))
    logits = np.concatenate(rows)
    with np.errstate(over="ignore", invalid="ignore"):
        return 1.0 / (1.0 + np.exp(-logits))


def train(config: TextConfig, folder: Path, epochs: int = 4) -> Path:
    """Train the config's tiny model and save it in `folder`; returns the file."""
    import tensorflow as tf

    texts, targets = training_data()
    model = build_model(config, texts)
    inputs = [tf.constant(x) if x.dtype == object else x for x in keras_inputs(config, texts)]
    model.fit(inputs if len(inputs) > 1 else inputs[0], targets, epochs=epochs, batch_size=32, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{config.name}{config.suffix}"
    model.save(path)
    return path


def export_command(source: Path, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "model_export",
        str(source),
        "--output",
        str(output),
        "--labels",
        ",".join(LABELS),
        *extra,
    ]


def cli_environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}


def build_and_export(config: TextConfig, folder: Path) -> ExportedTextModel:
    """Train, save and export through `python -m model_export` into folder/NAME/1/model.onnx."""
    return _export(config, train(config, folder / "sources"), folder)


def build_and_export_all(configs: list[TextConfig], folder: Path) -> dict[str, ExportedTextModel]:
    """Every config trained, saved and exported through the CLI's own entry point in this process: the same
    arguments and printed lines as `python -m model_export`, without a TensorFlow start-up per model (the command
    line itself is tested in its own processes elsewhere)."""
    return {c.name: _export(c, train(c, folder / "sources"), folder, in_process=True) for c in configs}


def _export(config: TextConfig, source: Path, folder: Path, in_process: bool = False) -> ExportedTextModel:
    output = folder / config.name / "1" / "model.onnx"
    command = export_command(source, output)
    if in_process:
        from model_export.cli import main

        printed, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            status = main(command[3:])
        stdout, stderr = printed.getvalue(), errors.getvalue()
    else:
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=cli_environment())
        status, stdout, stderr = result.returncode, result.stdout, result.stderr
    if status != 0:
        raise AssertionError(f"export of {config.name} failed ({status}): {stderr[-2000:]}")
    return ExportedTextModel(config, source, output, stdout)


def served_probabilities(exported: ExportedTextModel, texts: list[str], seed: int = 0) -> list[np.ndarray | str]:
    """What the service computes for each row alone (text steps + ONNX Runtime), or the 400 message it gives."""
    import onnxruntime as ort

    from service.contract.errors import InvalidText
    from service.contract.text.keras_layers import text_steps_from_metadata

    session = ort.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
    steps = text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    rows = _named_rows(exported.config, texts, seed)
    answers: list[np.ndarray | str] = []
    for i in range(len(texts)):
        try:
            feeds = {step.feeds: step.transform([rows[step.name][i]]) for step in steps}
        except InvalidText as exc:
            answers.append(str(exc))
            continue
        feeds.update({name: values[i : i + 1] for name, values in rows.items() if not isinstance(values, list)})
        answers.append(session.run(["probabilities"], feeds)[0][0].astype(np.float64))
    return answers


def _named_rows(config: TextConfig, texts: list[str], seed: int) -> dict[str, Any]:
    inputs = keras_inputs(config, texts, seed)
    rows: dict[str, Any] = {"text": list(texts)}
    if config.mixed:
        rows["amount"] = inputs[1]
        rows["country"] = [str(c) for c in inputs[2][:, 0]]
    return rows

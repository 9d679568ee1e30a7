"""keras.io's multi-label text classifier as written there, and held-out cases in its style, trained and exported
through the exporter's CLI once per test run (`build_once`): the fixtures of
tests/integration/export/test_keras_io.py.

keras.io's *Large-scale multi-label text classification* takes its labels from a `StringLookup(output_mode=
"multi_hot")` (so "[UNK]" is label 0), trains `shallow_mlp_model` (ending in `Dense(n, activation="sigmoid")`, loss
"binary_crossentropy") on tf-idf vectors, and serves `keras.Sequential([text_vectorizer, shallow_mlp_model])`, built
by calling it on a batch of strings: no `keras.Input`, so its input is named by Keras. Everything is tiny (a
120-abstract corpus made up here, 40 tokens), so that a run trains and exports it all in seconds.

The CLI runs in this process (`model_export.cli.main`, the function `python -m model_export` calls): TensorFlow is
imported once for all exports instead of once per export.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TERMS = {
    "cs.LG": ["learning", "gradient", "network", "training", "loss"],
    "cs.CV": ["image", "pixel", "camera", "vision", "segmentation"],
    "stat.ML": ["bayesian", "variance", "prior", "sampling", "posterior"],
}
_FILLER = ["we", "propose", "a", "method", "for", "the", "results", "show", "novel", "approach"]
UNKNOWN_ONLY = ["", "🤖", "   ", "zzz qqq", "!!!"]  # no word of the vocabulary: answered from the biases alone
HELD_OUT = [
    "We propose a novel gradient method for training the network.",
    "Bayesian posterior sampling with a variance prior",
    "IMAGE segmentation from camera pixels; vision results show...",
    "learning learning learning image",
    "the results show a novel approach",
    "Ünïcödé pixel 東京 posterior",
    " ".join(["loss network prior camera"] * 30),
]
TEXTS = HELD_OUT + UNKNOWN_ONLY  # what every served model is asked, and Keras' answer compared with


@dataclass
class Export:
    """One run of the CLI: its exit status and output, and the model it wrote (if it did)."""

    argv: list[str]
    status: int
    stdout: str
    stderr: str
    onnx: Path


@dataclass
class KerasIoModels:
    folder: Path
    labels: list[str]  # keras.io's: the StringLookup's vocabulary, "[UNK]" first
    generated_input: str  # the name Keras gave the input of keras.io's Sequential
    validation: Path  # .jsonl: text and label names
    sources: dict[str, Path] = field(default_factory=dict)
    exports: dict[str, Export] = field(default_factory=dict)  # by the served model's name
    keras: dict[str, np.ndarray] = field(default_factory=dict)  # probabilities [TEXTS, labels] (float64), by source

    @property
    def repository(self) -> Path:
        return self.folder / "repository"


def abstracts(rows: int = 120, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Made-up paper abstracts with one or two subject terms each."""
    rng = random.Random(seed)
    texts, terms = [], []
    for _ in range(rows):
        chosen = rng.sample(sorted(TERMS), rng.choice([1, 1, 2]))
        words = [rng.choice(TERMS[term]) for term in chosen for _ in range(2)] + rng.sample(_FILLER, 3)
        rng.shuffle(words)
        texts.append(" ".join(words))
        terms.append(chosen)
    return texts, terms


def build(folder: Path) -> KerasIoModels:
    """Train every model, export each through the CLI, and keep Keras' answers on TEXTS."""
    import keras
    import tensorflow as tf

    texts, terms = abstracts()
    keras.utils.set_random_seed(0)
    lookup = keras.layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(tf.ragged.constant(terms))
    labels = [str(token) for token in lookup.get_vocabulary()]
    y = lookup(tf.ragged.constant(terms)).numpy()
    strings = tf.constant(texts)
    validation = folder / "val.jsonl"
    rows = zip(texts, terms, strict=True)
    validation.write_text("".join(json.dumps({"text": text, "labels": tags}) + "\n" for text, tags in rows))
    sources = folder / "sources"
    sources.mkdir()

    # keras.io, as written: the MLP trained on tf-idf vectors, then served behind the vectorizer.
    vectorizer = keras.layers.TextVectorization(max_tokens=40, ngrams=2, output_mode="tf_idf")
    vectorizer.adapt(strings)
    shallow_mlp_model = keras.Sequential(
        [
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(len(labels), activation="sigmoid"),
        ]
    )
    shallow_mlp_model.compile(loss="binary_crossentropy", optimizer="adam")
    shallow_mlp_model.fit(vectorizer(strings), y, epochs=20, verbose=0)
    with warnings.catch_warnings():  # saving a Sequential never called: what keras.io's code allows
        warnings.simplefilter("ignore", UserWarning)
        keras.Sequential([vectorizer, shallow_mlp_model]).save(sources / "abstracts_unbuilt.keras")
    model_for_inference = keras.Sequential([vectorizer, shallow_mlp_model])
    model_for_inference.predict(strings[:8], verbose=0)  # keras.io builds it so
    model_for_inference.save(sources / "abstracts.keras")

    # The name its file gives the input (another Python session numbers unnamed inputs otherwise).
    generated = keras.models.load_model(sources / "abstracts.keras", compile=False).inputs[0].name
    built = KerasIoModels(folder, labels, generated, validation)
    built.sources = {
        "abstracts": sources / "abstracts.keras",
        "abstracts_unbuilt": sources / "abstracts_unbuilt.keras",
        "bag_of_words": _bag_of_words_rows(keras, strings, y[:, 1:], sources / "bag_of_words.keras"),
        "counts_activation": _counts_activation(keras, strings, y[:, 1:], sources / "counts_activation.keras"),
        "two_level": _two_level(keras, strings, y[:, 1:], sources / "two_level.keras"),
    }
    served = labels[1:]
    _export(built, "abstracts", "abstracts", labels, "--sample-data", str(validation))
    _export(
        built,
        "abstracts_served",
        "abstracts",
        labels,
        "--input-name",
        f"{built.generated_input}=abstract",
        "--drop-label",
        "[UNK]",
        "--refuse-empty-texts",
    )
    _export(built, "abstracts_unbuilt", "abstracts_unbuilt", labels)
    for name in ("bag_of_words", "counts_activation", "two_level"):
        _export(built, name, name, served)
    built.keras = {name: _keras_probabilities(keras, tf, path) for name, path in built.sources.items()}
    return built


def _bag_of_words_rows(keras: Any, strings: Any, y: np.ndarray, path: Path) -> Path:
    """multi_hot, count and tf_idf on one `keras.Input(shape=(1,))`: Keras declares [batch, 1, labels] for it."""
    text = keras.Input(shape=(1,), dtype="string", name="abstract")
    branches = []
    for mode, ngrams in (("multi_hot", None), ("count", 2), ("tf_idf", (1, 2))):
        layer = keras.layers.TextVectorization(max_tokens=30, ngrams=ngrams, output_mode=mode, name=f"{mode}_words")
        layer.adapt(strings)
        branches.append(layer(text))
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()(branches))
    model = keras.Model(text, keras.layers.Dense(y.shape[1])(hidden))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(strings[:, None], y, epochs=10, verbose=0)
    model.save(path)
    return path


def _counts_activation(keras: Any, strings: Any, y: np.ndarray, path: Path) -> Path:
    """An unnamed `keras.Input(shape=(1,))`, counts of words and pairs, and a sigmoid in an Activation layer."""
    text = keras.Input(shape=(1,), dtype="string")
    layer = keras.layers.TextVectorization(max_tokens=50, ngrams=(1, 2), output_mode="count", standardize="lower")
    layer.adapt(strings)
    hidden = keras.layers.Dense(8, activation="relu")(layer(text))
    model = keras.Model(text, keras.layers.Activation("sigmoid")(keras.layers.Dense(y.shape[1])(hidden)))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(strings[:, None], y, epochs=10, verbose=0)
    model.save(path)
    return path


def _two_level(keras: Any, strings: Any, y: np.ndarray, path: Path) -> Path:
    """The sigmoid two models deep: a Functional head inside a Sequential classifier, behind a multi_hot layer."""
    layer = keras.layers.TextVectorization(max_tokens=40, output_mode="multi_hot")
    layer.adapt(strings)
    hidden = keras.Input((8,))
    head = keras.Model(hidden, keras.layers.Dense(y.shape[1], activation="sigmoid")(hidden), name="head")
    classifier = keras.Sequential([keras.Input((layer.vocabulary_size(),)), keras.layers.Dense(8, "relu")], name="clf")
    classifier.add(head)
    classifier.compile(optimizer="adam", loss="binary_crossentropy")
    classifier.fit(layer(strings), y, epochs=10, verbose=0)
    text = keras.Input(shape=(), dtype="string", name="review")
    keras.Model(text, classifier(layer(text))).save(path)
    return path


def _export(built: KerasIoModels, name: str, source: str, labels: list[str], *options: str) -> None:
    from model_export.cli import main

    onnx = built.repository / name / "1" / "model.onnx"
    argv = [str(built.sources[source]), "--output", str(onnx), "--labels", ",".join(labels), *options]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    built.exports[name] = Export(argv, status, stdout.getvalue(), stderr.getvalue(), onnx)


def _keras_probabilities(keras: Any, tf: Any, path: Path) -> np.ndarray:
    """The saved model's probabilities on TEXTS, each text alone: its sigmoid output, or sigmoid(logits)."""
    model = keras.models.load_model(path, compile=False)
    one_column = model.built and tuple(model.inputs[0].shape[1:]) == (1,)
    rows = [np.asarray(model(tf.constant([[text]] if one_column else [text]), training=False)) for text in TEXTS]
    values = np.concatenate(rows).astype(np.float64).reshape(len(TEXTS), -1)
    if path.stem == "bag_of_words":  # the one model here that outputs logits
        values = 1.0 / (1.0 + np.exp(-values))
    return values

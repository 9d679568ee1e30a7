"""The committed text demo model (models/docstrings) matches its contract; needs no TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort

from model_export.demos.docstrings_corpus import LABELS, MODULE_TOPICS, load_corpus
from model_export.metadata import read_metadata
from service.contract.text.keras_layers import text_steps_from_metadata
from tests.support.server import DEMO_REPOSITORY

DEMO = DEMO_REPOSITORY / "docstrings"
MODEL = DEMO / "1" / "model.onnx"


def _served(texts: list[str]) -> np.ndarray:
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (step,) = text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    return session.run(["probabilities"], {step.feeds: step.transform(texts)})[0]


def test_text_demo_interface_and_metadata():
    meta = read_metadata(MODEL)
    assert meta.labels == LABELS and meta.thresholds == [0.5] * len(LABELS)
    assert meta.props["head"] == "appended_sigmoid" and MODEL.stat().st_size < 200_000
    (step,) = text_steps_from_metadata(meta.props)
    assert (step.name, step.feeds, step.string_shape) == ("text", "tfidf", ())
    assert (step.spec.output_mode, step.spec.ngrams, step.dtype, step.row_shape) == (
        "tf_idf",
        (1, 2),
        np.float32,
        (2000,),
    )
    assert not step.variable_length and not step.needs_token


def test_text_demo_examples_are_predicted_as_labelled():
    examples = json.loads((DEMO / "examples.json").read_text())
    assert len(examples["instances"]) == 5 and any(len(labels) > 1 for labels in examples["labels"])
    probabilities = _served(examples["instances"])
    predicted = [[label for label, p in zip(LABELS, row, strict=True) if p >= 0.5] for row in probabilities]
    assert predicted == examples["labels"]


def test_corpus_labels_co_occur():
    texts, labels = load_corpus()
    assert len(texts) > 1500 and len(set(texts)) == len(texts)
    pairs = {tuple(row) for row in labels if len(row) > 1}
    assert {("files", "compression"), ("network", "concurrency"), ("files", "text")} <= pairs
    assert set(LABELS) == {topic for topics in MODULE_TOPICS.values() for topic in topics}


def test_inspect_summarises_the_text_step_without_its_vocabulary():
    from model_export.describe import describe_model, format_description

    info = describe_model(MODEL)
    assert info["text_inputs"][0] | {"vocabulary_size": None} == {
        "input": "text", "feeds": "tfidf", "layer": "TextVectorization",
        "standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": [1, 2], "output_mode": "tf_idf",
        "output_sequence_length": None, "vocabulary_size": None, "variable_length": False, "needs_token": False,
        "needs_known_token": False,
    }  # fmt: skip
    text = format_description(info)
    assert "text input  text -> TextVectorization -> tfidf" in text and "text_steps" not in text
    assert len(text) < 3000

"""The committed transformer demo model (models/docstrings_bert) matches its contract; needs no TensorFlow."""

from __future__ import annotations

import json

import onnxruntime as ort

from model_export.demos.docstrings_corpus import LABELS
from model_export.metadata import read_metadata
from service.contract.model_file import TEXT, read_session
from service.contract.text.transformer_step import transformer_step_from_metadata
from tests.support.server import DEMO_REPOSITORY

DEMO = DEMO_REPOSITORY / "docstrings_bert"
MODEL = DEMO / "1" / "model.onnx"


def test_transformer_demo_interface_and_metadata():
    meta = read_metadata(MODEL)
    assert meta.labels == LABELS and meta.thresholds == [0.5] * len(LABELS)
    assert meta.props["head"] == "appended_sigmoid" and MODEL.stat().st_size < 4_000_000  # a few MB, in git
    step = transformer_step_from_metadata(meta.props)
    spec = step.spec
    assert (spec.tokenizer, spec.keras_tokenizer, spec.sequence_length) == ("wordpiece", "BertTokenizer", 64)
    assert spec.onnx_inputs == ("token_ids", "segment_ids", "padding_mask")
    contents = read_session(ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"]))
    assert [(spec.name, spec.dtype) for spec in contents.inputs] == [("text", TEXT)]


def test_transformer_demo_examples_are_predicted_as_labelled():
    examples = json.loads((DEMO / "examples.json").read_text())
    assert len(examples["instances"]) == 5 and any(len(labels) > 1 for labels in examples["labels"])
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    step = transformer_step_from_metadata(session.get_modelmeta().custom_metadata_map)
    probabilities = session.run(["probabilities"], step.encode(examples["instances"], pad_to_longest=True))[0]
    predicted = [[label for label, p in zip(LABELS, row, strict=True) if p >= 0.5] for row in probabilities]
    assert predicted == examples["labels"]

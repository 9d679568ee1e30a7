"""Small text models built with onnx.helper, shaped like the exporter's (an ONNX graph after the text layers, the
text step declared in the `text_steps` metadata), so service tests need no TensorFlow. The exporter's tests serve
real Keras models (tests/integration/export/test_text_serving.py).

The graph averages an embedding of the token ids (Gather + ReduceMean, as tf2onnx converts Embedding +
GlobalAveragePooling1D), optionally concatenates a numeric input, and ends in a Dense layer and a Sigmoid.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.contract.text.spec import METADATA_KEY, TextStepSpec, dump_specs
from tests.support.onnx_models import OPSET

LABELS = ("animals", "food", "weather")
VOCABULARY = ("the", "cat", "dog", "bread", "cheese", "rain", "sun", "été")
EMBEDDING = 4
SEQUENCE = 6  # output_sequence_length of the fixed-length model

WORDS_SPEC = TextStepSpec(
    input="text",
    string_shape=(1,),
    feeds="words",
    layer="TextVectorization",
    standardize="lower_and_strip_punctuation",
    split="whitespace",
    ngrams=None,
    output_mode="int",
    output_sequence_length=None,  # variable length: each text at its own token count
    vocabulary=VOCABULARY,
    token_start=2,
    oov_index=1,
    mask_token="",
    depth=None,
    idf_weights=None,
    needs_token=True,
)


def text_model(path: Path, variable_length: bool = True, numbers: int = 0, spec: TextStepSpec | None = None) -> None:
    """ids [batch, tokens] (or [batch, SEQUENCE]) -> mean embedding (+ `numbers` float32 inputs named `amount`)
    -> Dense -> Sigmoid, with a text step from `text` (WORDS_SPEC, or `spec` to declare another)."""
    if spec is None:
        spec = (
            WORDS_SPEC if variable_length else replace(WORDS_SPEC, output_sequence_length=SEQUENCE, needs_token=False)
        )
    rng = np.random.default_rng(3)
    ids = len(VOCABULARY) + 2
    width = EMBEDDING + numbers
    nodes = [
        helper.make_node("Gather", ["embedding", "words"], ["embedded"]),
        helper.make_node("ReduceMean", ["embedded"], ["pooled"], axes=[1], keepdims=0),
    ]
    inputs = [
        helper.make_tensor_value_info("words", TensorProto.INT64, ["batch", None if variable_length else SEQUENCE])
    ]
    if numbers:
        nodes.append(helper.make_node("Concat", ["pooled", "amount"], ["features"], axis=1))
        inputs.append(helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["batch", numbers]))
    nodes += [
        helper.make_node("MatMul", ["features" if numbers else "pooled", "kernel"], ["dense"]),
        helper.make_node("Add", ["dense", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    initializers = [
        numpy_helper.from_array(rng.normal(size=(ids, EMBEDDING)).astype(np.float32), "embedding"),
        numpy_helper.from_array(rng.normal(size=(width, len(LABELS))).astype(np.float32) * 2, "kernel"),
        numpy_helper.from_array(rng.normal(size=(len(LABELS),)).astype(np.float32), "bias"),
    ]
    _save(nodes, inputs, initializers, path, spec)


def nan_on_empty_model(path: Path) -> None:
    """Word counts divided by their sum: a text with no known word gives 0/0 = NaN, and the step does not say
    `needs_token` (as a hand-made model might not)."""
    spec = replace(
        WORDS_SPEC, output_mode="count", depth=len(VOCABULARY) + 1, output_sequence_length=None, needs_token=False,
        string_shape=(), feeds="counts", oov_index=0, token_start=1, mask_token=None,
    )  # fmt: skip
    nodes = [
        helper.make_node("ReduceSum", ["counts", "axis"], ["total"], keepdims=1),
        helper.make_node("Div", ["counts", "total"], ["shares"]),
        helper.make_node("MatMul", ["shares", "kernel"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    inputs = [helper.make_tensor_value_info("counts", TensorProto.FLOAT, ["batch", spec.depth])]
    kernel = np.random.default_rng(4).normal(size=(spec.depth, len(LABELS))).astype(np.float32)
    initializers = [numpy_helper.from_array(kernel, "kernel"), numpy_helper.from_array(np.array([1], np.int64), "axis")]
    _save(nodes, inputs, initializers, path, spec)


def _save(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto],
    path: Path,
    spec: TextStepSpec,
) -> None:
    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(LABELS)]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "text", inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    entries = {"labels": list(LABELS), "thresholds": [0.5] * len(LABELS)}
    for key, value in entries.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=json.dumps(value)))
    model.metadata_props.append(onnx.StringStringEntryProto(key=METADATA_KEY, value=dump_specs([spec])))
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))

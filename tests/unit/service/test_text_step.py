"""The text step without TensorFlow: its spec (malformed ones are refused with a readable message), the errors a
text gets, and how variable-length rows are grouped. Parity with TensorFlow is in tests/export."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from service.contract.errors import InvalidText
from service.contract.text.keras_layers import TextStep, group_equal_lengths, text_steps_from_metadata
from service.contract.text.spec import METADATA_KEY, TextStepSpec, dump_specs, parse_specs


def spec(**overrides) -> TextStepSpec:
    fields = {
        "input": "text",
        "string_shape": (1,),
        "feeds": "words",
        "layer": "TextVectorization",
        "standardize": "lower_and_strip_punctuation",
        "split": "whitespace",
        "ngrams": None,
        "output_mode": "int",
        "output_sequence_length": 4,
        "vocabulary": ("the", "cat", "été", "ÉtÉ"),
        "token_start": 2,
        "oov_index": 1,
        "mask_token": "",
        "depth": None,
        "idf_weights": None,
        "needs_token": False,
    }
    return TextStepSpec(**{**fields, **overrides})


def test_no_metadata_means_no_step():
    assert text_steps_from_metadata({"labels": "[]"}) == []


def test_spec_round_trips_through_metadata():
    specs = [spec(), spec(input="title", feeds="title_ids", output_mode="tf_idf", output_sequence_length=None,
                          depth=7, idf_weights=(0.5, 1.25, 2.0, 0.1, 3.0, 1.0, 0.0), mask_token=None, token_start=1,
                          oov_index=0)]  # fmt: skip
    (first, second) = text_steps_from_metadata({METADATA_KEY: dump_specs(specs)})
    assert (first.name, first.feeds, first.dtype, first.row_shape) == ("text", "words", np.int64, (4,))
    assert (second.name, second.feeds, second.dtype, second.row_shape) == ("title", "title_ids", np.float32, (7,))
    assert parse_specs(dump_specs(specs)) == specs


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "not json", "is not valid JSON"),
        (lambda d: {**d, "format": 2}, "format 2; this server reads format 1"),
        (lambda d: {**d, "steps": []}, "non-empty list 'steps'"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "colour": 1}]}, "unknown fields ['colour']"),
        (lambda d: {**d, "steps": [{k: v for k, v in d["steps"][0].items() if k != "split"}]}, "missing fields"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "standardize": "upper"}]}, "'standardize' must be one of"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "vocabulary": ["a", "a"]}]}, "holds a token twice"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "output_sequence_length": 0}]}, "integer >= 1"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "oov_index": 5}]}, "'oov_index' must come before"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "output_mode": "tf_idf"}]}, "'depth' must cover every id"),
        (lambda d: {**d, "steps": [d["steps"][0], d["steps"][0]]}, "two steps feed the same ONNX input"),
        (lambda d: {**d, "steps": [{**d["steps"][0], "output_sequence_length": None}]}, "needs a token in every text"),
    ],
)
def test_malformed_spec_is_refused_with_a_readable_message(mutate, message):
    document = json.loads(dump_specs([spec()]))
    mutated = mutate(document)
    raw = mutated if isinstance(mutated, str) else json.dumps(mutated)
    with pytest.raises(ValueError, match=re.escape(message)):
        text_steps_from_metadata({METADATA_KEY: raw})


def test_nan_idf_weight_is_refused():
    document = json.loads(dump_specs([spec(output_mode="tf_idf", output_sequence_length=None, depth=6,
                                           idf_weights=(1.0,) * 6)]))  # fmt: skip
    raw = json.dumps(document).replace("[1.0, 1.0", "[NaN, 1.0")
    with pytest.raises(ValueError, match="'idf_weights' must be"):
        text_steps_from_metadata({METADATA_KEY: raw})


def test_only_ascii_is_lowercased_and_stripped():
    step = TextStep(spec())
    # 'ÉTÉ' keeps its É (TensorFlow lowers ASCII only): it reads as the vocabulary's 'ÉtÉ', not 'été'.
    assert step.tokens("The CAT, ÉTÉ été¡") == [b"the", b"cat", "ÉtÉ".encode(), "été¡".encode()]
    np.testing.assert_array_equal(step.transform(["The CAT, ÉTÉ", "été the the the the"]), [[2, 3, 5, 0], [4, 2, 2, 2]])


def test_only_ascii_whitespace_splits():
    step = TextStep(spec(output_sequence_length=None))
    assert step.tokens("the\u00a0cat the\u2028cat\t\r\n\x0b\x0cthe") == [
        "the\u00a0cat".encode(),
        "the\u2028cat".encode(),
        b"the",
    ]


def test_variable_length_rows_and_groups():
    step = TextStep(spec(output_sequence_length=None, needs_token=True))
    assert step.variable_length and step.row_shape == (None,)
    rows = step.transform_rows(["the cat", "été", "cat the", "x y z"])
    assert [r.tolist() for r in rows] == [[2, 3], [4], [3, 2], [1, 1, 1]]
    groups = group_equal_lengths({"words": rows, "amount": [np.float32([i]) for i in range(4)]})
    assert [g[0].tolist() for g in groups] == [[0, 2], [1], [3]]
    np.testing.assert_array_equal(groups[0][1]["words"], [[2, 3], [3, 2]])
    np.testing.assert_array_equal(groups[0][1]["amount"], [[0.0], [2.0]])
    with pytest.raises(ValueError, match="different token counts"):
        step.transform(["the cat", "the"])


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "!!! ...", "?"])
def test_text_without_token_is_a_client_error_when_the_step_needs_one(text):
    with pytest.raises(InvalidText, match="row 3 of input 'text' has no token after standardization"):
        TextStep(spec(needs_token=True)).tokens(text, 3)
    np.testing.assert_array_equal(TextStep(spec()).transform([text]), [[0, 0, 0, 0]])  # padding, as Keras


@pytest.mark.parametrize(
    ("value", "message"),
    [(3, "row 0 is a number"), (None, "row 0 is null"), (b"x", "bytes"), (["a"], "a list"), ("a\ud800", "surrogate")],
)
def test_what_is_not_text_is_a_client_error(value, message):
    with pytest.raises(InvalidText, match=message):
        TextStep(spec()).transform([value])


def test_counts_multi_hot_and_tf_idf():
    base = {"output_sequence_length": None, "mask_token": None, "token_start": 1, "oov_index": 0, "depth": 6}
    texts = ["the cat the dog", "", "été"]
    counts = TextStep(spec(output_mode="count", **base)).transform(texts)
    np.testing.assert_array_equal(counts, [[1, 2, 1, 0, 0, 0], [0] * 6, [0, 0, 0, 1, 0, 0]])
    multi_hot = TextStep(spec(output_mode="multi_hot", **base)).transform(texts)
    np.testing.assert_array_equal(multi_hot, np.minimum(counts, 1))
    weights = (0.5, 1.5, 0.25, 2.0, 1.0, 0.0)
    tf_idf = TextStep(spec(output_mode="tf_idf", idf_weights=weights, **base)).transform(texts)
    assert tf_idf.dtype == np.float32
    np.testing.assert_array_equal(tf_idf, counts * np.float32(weights))


def test_ngrams_follow_the_given_widths():
    step = TextStep(spec(ngrams=(2, 1), output_sequence_length=None, vocabulary=("the cat", "cat")))
    assert step.tokens("The cat sat") == [b"the cat", b"cat sat", b"the", b"cat", b"sat"]
    assert step.transform(["the cat sat"]).tolist() == [[2, 1, 1, 3, 1]]


def test_characters_are_code_points():
    step = TextStep(spec(split="character", standardize="lower", vocabulary=("é", "a"), output_sequence_length=6))
    assert step.tokens("Aé👩‍👧") == ["a", "é", "👩", "\u200d", "👧"]
    assert step.transform(["Aé👩‍👧"]).tolist() == [[3, 2, 1, 1, 1, 0]]


def test_string_lookup_without_oov_names_the_unknown_value():
    step = TextStep(spec(layer="StringLookup", standardize=None, split=None, output_sequence_length=None,
                         vocabulary=("fr", "de"), token_start=0, oov_index=None, mask_token=None,
                         output_mode="one_hot", depth=2))  # fmt: skip
    np.testing.assert_array_equal(step.transform(["de", "fr"]), [[0, 1], [1, 0]])
    with pytest.raises(InvalidText, match="'xx' is not one of the model's 2 known values"):
        step.transform(["fr", "xx"])

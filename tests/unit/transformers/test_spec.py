"""The transformer text spec: round trip, and strict parsing whose errors name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.contract.text.transformer_spec import METADATA_KEY, dump_spec, parse_spec, spec_from_json
from tests.unit.transformers.specs import byte_bpe_step, sentencepiece_step, wordpiece_step


def document(step: dict[str, Any]) -> str:
    return json.dumps({"format": 1, "step": step})


@pytest.mark.parametrize("make", [wordpiece_step, byte_bpe_step, sentencepiece_step])
def test_round_trip(make: Any) -> None:
    spec = spec_from_json(make())
    assert parse_spec(dump_spec(spec)) == spec
    assert spec.onnx_inputs[0] == "token_ids"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (wordpiece_step(pad_id=99), "'pad_id' must be a token id below vocabulary_size"),
        (wordpiece_step(lowercase="yes"), "'lowercase' must be true or false"),
        (wordpiece_step(lowercase=None), "'lowercase' must be true or false"),
        (wordpiece_step(vocabulary=["a", "a"]), "'vocabulary' must be a non-empty list of distinct strings"),
        (wordpiece_step(oov_token="<unk>"), "'oov_token' is not in 'vocabulary'"),
        (wordpiece_step(merges=["a b"]), "'merges' must be null for tokenizer \"wordpiece\""),
        (wordpiece_step(tokenizer="bpe"), "'tokenizer' must be one of"),
        (wordpiece_step(truncate="longest_first"), "'truncate' must be one of"),
        (wordpiece_step(sequence_length=1), "'sequence_length' leaves no room for the start and end tokens"),
        (wordpiece_step(start_ids=[2.0]), "'start_ids' must be a list of token ids"),
        (wordpiece_step(segment_ids_input="token_ids"), "name the same ONNX input"),
        (wordpiece_step(input_dtype="float32"), "'input_dtype' must be one of"),
        (wordpiece_step(input=""), "'input' must be a non-empty string"),
        (byte_bpe_step(merges=["a b c"]), "'merges' must be a list of merge rules"),
        (byte_bpe_step(merges=["x y"]), "merge 'x y' makes a token that is not in 'bpe_vocabulary'"),
        (byte_bpe_step(bpe_vocabulary={"a": 0}), "lacks byte symbols"),
        (byte_bpe_step(bpe_vocabulary={"a": 9999}), "'bpe_vocabulary' must be an object token -> a list"),
        (sentencepiece_step(sentencepiece_model="not base64!"), "'sentencepiece_model' must be a base64"),
    ],
)
def test_bad_field_is_named(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="step") as caught:
        parse_spec(document(step))
    assert message in str(caught.value)


def test_missing_and_unknown_fields_are_listed() -> None:
    step = wordpiece_step(extra=1)
    del step["pad_id"]
    with pytest.raises(ValueError, match=r"missing fields \['pad_id'\], unknown fields \['extra'\]"):
        parse_spec(document(step))


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "is not valid JSON"), ('{"format": 2, "step": {}}', "has format 2"), ("[]", "has format None")],
)
def test_bad_document(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_spec(text)
    assert METADATA_KEY in str(caught.value)

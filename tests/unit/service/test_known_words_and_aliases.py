"""Two choices an exported model carries, read by the contract without TensorFlow: a text step that refuses texts
with no known word (`needs_known_token`, the exporter's --refuse-empty-texts), and the aliases the native API takes
for an input (`input_aliases`). Old files, which have neither, read as before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.contract.errors import InvalidText
from service.contract.input_aliases import InvalidInputAliases, parse_input_aliases
from service.contract.metadata import INPUT_ALIASES, LABELS, OUTPUTS
from service.contract.model_file import TEXT, InputSpec, read_model_file
from service.contract.text.keras_layers import TextStep
from service.contract.text.spec import METADATA_KEY, TextStepSpec, dump_specs, parse_specs
from service.core.errors import InvalidInput
from service.protocols.native import resolve_aliases

BAG = {"output_mode": "multi_hot", "output_sequence_length": None, "depth": 6, "mask_token": None, "token_start": 1,
       "oov_index": 0, "vocabulary": ("cat", "dog", "sat", "the", "mat")}  # fmt: skip


def spec(**overrides) -> TextStepSpec:
    """An int step of 4 token ids (mask 0, OOV 1, words from 2), changed by `overrides`."""
    fields = {"input": "text", "string_shape": (1,), "feeds": "words", "layer": "TextVectorization",
              "standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": None, "output_mode": "int",
              "output_sequence_length": 4, "vocabulary": ("the", "cat"), "token_start": 2, "oov_index": 1,
              "mask_token": "", "depth": None, "idf_weights": None, "needs_token": False}  # fmt: skip
    return TextStepSpec(**{**fields, **overrides})


def test_a_file_written_before_the_choice_reads_as_answering_every_text():
    written = json.loads(dump_specs([spec(**BAG)]))
    assert "needs_known_token" not in written["steps"][0]  # not written when false: older servers read the file
    (read,) = parse_specs(json.dumps(written))
    assert read.needs_known_token is False
    assert TextStep(read).transform(["", "🤖"]).tolist() == [[0.0] * 6, [1.0] + [0.0] * 5]


def test_the_choice_is_written_and_read_back():
    written = dump_specs([spec(**BAG, needs_known_token=True)])
    assert json.loads(written)["steps"][0]["needs_known_token"] is True
    assert parse_specs(written)[0].needs_known_token is True
    broken = json.loads(written)
    broken["steps"][0]["needs_known_token"] = "yes"
    with pytest.raises(ValueError, match="'needs_known_token' must be true or false"):
        parse_specs(json.dumps(broken))


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🤖", "zzz qqq", "Dogs"])
def test_a_text_with_no_known_word_is_refused_when_the_model_says_so(text):
    step = TextStep(spec(**BAG, needs_known_token=True))
    with pytest.raises(InvalidText, match="row 0 of input 'text' has no word this model knows"):
        step.transform([text])
    assert step.transform(["the 🤖"])[0].tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # one known word is enough


def test_a_known_word_past_the_sequence_length_does_not_count():
    step = TextStep(spec(output_sequence_length=2, needs_known_token=True))
    assert step.transform(["zzz the"]).tolist() == [[1, 2]]
    with pytest.raises(InvalidText, match="no word this model knows"):
        step.transform(["zzz qqq the"])


def _model_file(metadata: dict[str, str]):
    graph = [InputSpec("words", np.dtype(np.float32), (None, 6))]
    metadata = {LABELS: '["a", "b"]', METADATA_KEY: dump_specs([spec(**BAG)]), **metadata}
    return read_model_file(metadata, graph, list(OUTPUTS), 2)


def test_aliases_are_read_and_a_broken_entry_only_loses_them():
    read = _model_file({INPUT_ALIASES: '{"abstract": "text"}'})
    assert read.input_aliases == {"abstract": "text"} and read.inputs == [InputSpec("text", TEXT, (None, 1))]
    assert read.text_rules() == {"text": {"needs_token": False, "needs_known_token": False}}
    broken = _model_file({INPUT_ALIASES: '{"text": "nowhere"}'})
    assert broken.input_aliases == {} and "served without input aliases" in broken.warnings[-1]


@pytest.mark.parametrize(
    ("entry", "message"),
    [("[1]", "JSON object of non-empty names"), ('{"text": "text"}', "already name inputs"), ("{", "not valid JSON")],
)
def test_malformed_aliases_are_named(entry, message):
    with pytest.raises(InvalidInputAliases, match=message):
        parse_input_aliases({INPUT_ALIASES: entry}, ["text"])


def test_the_native_adapter_reads_an_alias_as_its_input():
    aliases = {"text": "input_layer_1"}
    rows = [{"text": "a"}, {"input_layer_1": "b"}, "c"]
    assert resolve_aliases(rows, aliases) == [{"input_layer_1": "a"}, {"input_layer_1": "b"}, "c"]
    assert rows[0] == {"text": "a"}  # the request's own rows are left as sent
    with pytest.raises(InvalidInput, match="instance 1 gives input 'input_layer_1' twice"):
        resolve_aliases([{"text": "a"}, {"text": "b", "input_layer_1": "c"}], aliases)
    assert resolve_aliases("not a list", aliases) == "not a list"

"""Packing as KerasHub's TextClassifierPreprocessor does it, and the tokenizers' documented quirks.

Token-for-token identity with KerasHub is proven in tests/integration/transformers (it needs TensorFlow);
these pin the behaviour without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.contract.text.byte_bpe import byte_symbols, stand_ins
from service.contract.text.transformer_spec import spec_from_json
from service.contract.text.transformer_step import TransformerTextStep
from service.contract.text.wordpiece import WordPieceTokenizer
from tests.unit.transformers.specs import WORDPIECE_VOCABULARY, byte_bpe_step, sentencepiece_step, wordpiece_step

ID = {token: index for index, token in enumerate(WORDPIECE_VOCABULARY)}


def wordpiece(**options: bool) -> WordPieceTokenizer:
    settings = {"lowercase": True, "strip_accents": False, "split_on_cjk": True} | options
    return WordPieceTokenizer(WORDPIECE_VOCABULARY, suffix_indicator="##", oov_token="[UNK]", **settings)


def test_special_tokens_padding_and_mask() -> None:
    step = TransformerTextStep(spec_from_json(wordpiece_step()))
    inputs = step.encode(["the quick fox", ""])
    cls, sep = ID["[CLS]"], ID["[SEP]"]
    assert inputs["token_ids"].tolist() == [
        [cls, ID["the"], ID["quick"], ID["fox"], sep, 0, 0, 0],
        [cls, sep, 0, 0, 0, 0, 0, 0],  # an empty text is [CLS] [SEP], as in Keras
    ]
    assert inputs["segment_ids"].tolist() == [[0] * 8, [0] * 8]
    assert inputs["padding_mask"].tolist() == [[1] * 5 + [0] * 3, [1, 1] + [0] * 6]
    assert {array.dtype for array in inputs.values()} == {np.dtype("int32")}


@pytest.mark.parametrize("truncate", ["round_robin", "waterfall"])
def test_truncation_keeps_the_first_tokens(truncate: str) -> None:
    step = TransformerTextStep(spec_from_json(wordpiece_step(truncate=truncate, sequence_length=5)))
    row = step.encode(["a b the quick fox"])["token_ids"][0].tolist()
    assert row == [ID["[CLS]"], ID["a"], ID["b"], ID["the"], ID["[SEP]"]]


def test_pad_to_longest_text_of_the_batch() -> None:
    step = TransformerTextStep(spec_from_json(wordpiece_step(input_dtype="int64")))
    inputs = step.encode(["the", "the quick", "a b the quick fox fox fox"], pad_to_longest=True)
    assert inputs["token_ids"].shape == (3, 8)  # the longest text is cut to sequence_length first
    inputs = step.encode(["the", "the quick"], pad_to_longest=True)
    assert inputs["token_ids"].shape == (2, 4) and inputs["token_ids"].dtype == np.int64
    assert step.encode([], pad_to_longest=True)["token_ids"].shape == (0, 2)


def test_padding_mask_is_token_ids_other_than_pad() -> None:
    """KerasHub masks every pad id, even one typed in the text ("<pad>" is an unsplittable token)."""
    step = TransformerTextStep(spec_from_json(byte_bpe_step()))
    inputs = step.encode(["ab<pad>"])
    assert inputs["token_ids"][0].tolist()[:4] == [0, step.spec.bpe_vocabulary["ab"], 1, 2]
    assert inputs["padding_mask"][0].tolist()[:4] == [1, 1, 0, 1]


def test_lone_surrogate_and_non_string_are_refused_by_index() -> None:
    step = TransformerTextStep(spec_from_json(wordpiece_step()))
    with pytest.raises(ValueError, match="text 1 holds a lone surrogate"):
        step.encode(["fine", "bad \ud800"])
    with pytest.raises(ValueError, match="text 0 is not a string"):
        step.encode([b"bytes"])  # type: ignore[list-item]


def test_wordpiece_follows_kerashub_not_bert_normalizer() -> None:
    tokenizer = wordpiece()
    assert tokenizer.words("Straße ﬁne İ") == ["strasse", "fine", "i̇"]  # case folding, not lowercasing
    assert tokenizer.words("no\u00a0break zero\u200bwidth") == ["no break", "zero", "width"]
    assert tokenizer.words("日本 x") == ["日", "本", "x"]
    assert tokenizer.words("before\x00after") == ["before"]
    assert wordpiece(strip_accents=True).words("Café İ") == ["cafe", "i"]
    assert wordpiece(lowercase=False).words("Café") == ["Café"]


def test_wordpiece_greedy_longest_match_and_byte_limit() -> None:
    tokenizer = wordpiece()
    assert tokenizer.token_ids("quick") == [ID["quick"]]
    assert tokenizer.token_ids("QUICK fox.") == [ID["quick"], ID["fox"], ID["."]]
    assert tokenizer.token_ids("quickx") == [ID["[UNK]"]]  # a word that cannot be covered is one [UNK]
    assert tokenizer.token_ids("a" * 100) == [ID["a"]] + [ID["##a"]] * 99
    assert tokenizer.token_ids("a" * 101) == [ID["[UNK]"]]  # over 100 UTF-8 bytes
    assert tokenizer.token_ids("\u034f") == []  # a word case folding empties gives no token


def test_byte_level_tables() -> None:
    symbols = byte_symbols()
    assert len(set(symbols)) == 256 and symbols[ord("a")] == "a" and symbols[ord(" ")] == "Ġ"
    assert stand_ins(12)[:2] == ["ĴA", "ĴB"] and stand_ins(12)[10] == "ĴBA"


def test_sentencepiece_step_runs_the_proto() -> None:
    step = TransformerTextStep(spec_from_json(sentencepiece_step()))
    row = step.encode(["the"])["token_ids"][0].tolist()
    assert row[0] == 2 and 3 in row and row[-1] == 0
    assert step.token_ids("the") == row[1 : row.index(3)]

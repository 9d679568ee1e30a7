"""The serve-time tokenizers give KerasHub's preprocessor outputs, id for id, on tricky texts and every code point.

KerasHub is run the way fit() and predict() run it: in tf.data, on its TensorFlow path (RE2, ICU, tf_text).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import numpy as np
import pytest

from model_export.demos.kerashub_tasks import CORPUS, preprocessor
from model_export.text.kerashub_preprocessor import preprocessor_spec
from model_export.text.unicode_tables import code_points
from service.contract.text.transformer_step import TransformerTextStep
from service.contract.text.unicode_facts import TABLES_PATH
from tests.integration.transformers.conftest import keras_inputs
from tests.support.tricky_texts import TRICKY_TEXTS

FEEDS = {
    "bert": ("token_ids", "segment_ids", "padding_mask"),
    "distil_bert": ("token_ids", "padding_mask"),
    "roberta": ("token_ids", "padding_mask"),
    "albert": ("token_ids", "segment_ids", "padding_mask"),
}


def wide_vocabulary() -> list[str]:
    """BERT's specials and every code point up to U+1FFFF as a word start and a "##" continuation."""
    chars = [chr(cp) for cp in range(0x21, 0x20000) if not 0xD800 <= cp <= 0xDFFF]
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + char for char in chars)]


def serve_step(keras_preprocessor: Any, family: str) -> TransformerTextStep:
    feeds = {name: name for name in FEEDS[family]}
    size = keras_preprocessor.tokenizer.vocabulary_size()
    return TransformerTextStep(preprocessor_spec(keras_preprocessor, feeds, size))


def assert_same_inputs(keras_preprocessor: Any, family: str, texts: list[str]) -> None:
    expected = keras_inputs(keras_preprocessor, texts)
    actual = serve_step(keras_preprocessor, family).encode(texts)
    assert sorted(actual) == sorted(expected)
    for name, values in expected.items():
        mismatched = np.flatnonzero((np.asarray(values, dtype=np.int64) != actual[name]).any(axis=1))
        assert not mismatched.size, f"{name} differs on {len(mismatched)} texts, first {texts[mismatched[0]][:120]!r}"


def code_point_texts(context: str, per_text: int) -> list[str]:
    """Every code point in `context` ("{c}" marks where), `per_text` of them to a text, so a run takes seconds."""
    points = code_points()
    return [
        " ".join(context.format(c=chr(cp)) for cp in points[start : start + per_text])
        for start in range(0, len(points), per_text)
    ]


@pytest.mark.parametrize("family", list(FEEDS))
@pytest.mark.parametrize("sequence_length", [8, 64])
def test_tricky_texts_and_truncation(family: str, sequence_length: int) -> None:
    """Sequence length 8 cuts most texts: truncation and [SEP] placement as KerasHub's packer does them."""
    texts = [*TRICKY_TEXTS, *CORPUS]
    assert_same_inputs(preprocessor(family, sequence_length=sequence_length), family, texts)


@pytest.mark.parametrize(
    "options",
    [
        {"lowercase": False},
        {"lowercase": True},
        {"lowercase": True, "strip_accents": True},
        {"lowercase": False, "strip_accents": True, "split_on_cjk": False},
    ],
)
def test_wordpiece_options_on_tricky_texts(options: dict[str, bool]) -> None:
    keras_preprocessor = preprocessor("bert", sequence_length=256, vocabulary=wide_vocabulary(), **options)
    assert_same_inputs(keras_preprocessor, "bert", [*TRICKY_TEXTS, *CORPUS])


def test_empty_text_is_cls_sep() -> None:
    step = serve_step(preprocessor("bert", sequence_length=8), "bert")
    tokenizer = preprocessor("bert").tokenizer
    row = step.encode([""])["token_ids"][0].tolist()
    assert row == [tokenizer.cls_token_id, tokenizer.sep_token_id] + [tokenizer.pad_token_id] * 6


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"lowercase": True}, id="uncased", marks=pytest.mark.slow),
        pytest.param({"lowercase": False}, id="cased", marks=pytest.mark.slow),
        pytest.param({"lowercase": True, "strip_accents": True}, id="uncased-strip", marks=pytest.mark.slow),
        pytest.param({"lowercase": False, "strip_accents": True}, id="cased-strip", marks=pytest.mark.slow),
    ],
)
def test_wordpiece_every_code_point(options: dict[str, bool]) -> None:
    keras_preprocessor = preprocessor("bert", sequence_length=512, vocabulary=wide_vocabulary(), **options)
    assert_same_inputs(keras_preprocessor, "bert", code_point_texts("x{c}y {c}", per_text=64))


@pytest.mark.slow
def test_byte_bpe_every_code_point() -> None:
    assert_same_inputs(preprocessor("roberta", sequence_length=1024), "roberta", code_point_texts(" x{c}1 {c}", 48))


def test_byte_bpe_code_points_up_to_plane_3() -> None:
    """The fast stand-in for the test above: every assigned character lies below U+32400 (CJK extension H)."""
    points = [cp for cp in code_points() if cp < 0x32400]
    texts = [" ".join(chr(cp) + "1" for cp in points[start : start + 96]) for start in range(0, len(points), 96)]
    assert_same_inputs(preprocessor("roberta", sequence_length=1024), "roberta", texts)


@pytest.mark.parametrize(
    "options",
    [{"lowercase": False}, {"lowercase": True}, {"lowercase": True, "strip_accents": True}, {"strip_accents": True}],
)
def test_wordpiece_code_points_python_does_not_know(options: dict[str, bool]) -> None:
    """Fast: the code points where Python's Unicode 14 and TensorFlow's RE2 / ICU disagree (unicode_tables.json)."""
    points = sorted(code_points_beyond_python())
    assert len(points) > 1000
    texts = [
        " ".join(f"x{chr(cp)}y {chr(cp)}" for cp in points[start : start + 64]) for start in range(0, len(points), 64)
    ]
    keras_preprocessor = preprocessor("bert", sequence_length=512, vocabulary=wide_vocabulary(), **options)
    assert_same_inputs(keras_preprocessor, "bert", texts)


def code_points_beyond_python() -> set[int]:
    tables = json.loads(TABLES_PATH.read_text(encoding="utf-8"))
    points = {int(cp) for cp in [*tables["nfd"], *tables["casefold"]]}
    points |= {ord(text[0]) for text in tables["compositions"]}
    python_classes = {
        "Mn": {"Mn"},
        "P": {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"},
        "Cf": {"Cf"},
        "L": {"Lu", "Ll", "Lt", "Lm", "Lo"},
        "N": {"Nd", "Nl", "No"},
    }
    for name, categories in python_classes.items():
        for low, high in tables["classes"][name]:
            points |= {cp for cp in range(low, high + 1) if unicodedata.category(chr(cp)) not in categories}
    return points


def test_sentencepiece_every_code_point() -> None:
    assert_same_inputs(preprocessor("albert", sequence_length=1024), "albert", code_point_texts("x{c}y {c}", 64))

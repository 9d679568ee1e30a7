"""The serve-time tokenizers give KerasHub's preprocessor outputs, id for id, on tricky texts and every code point.

KerasHub is run the way fit() and predict() run it: in tf.data, on its TensorFlow path (RE2, ICU, tf_text).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from model_export.demos.kerashub_tasks import CORPUS, preprocessor
from model_export.text.kerashub_preprocessor import preprocessor_spec
from model_export.text.unicode_tables import code_points
from service.contract.text.byte_bpe import ByteLevelBpeTokenizer
from service.contract.text.transformer_step import TransformerTextStep
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
    [{"lowercase": False}, {"lowercase": True, "strip_accents": True, "split_on_cjk": False}],
)
def test_wordpiece_options_on_tricky_texts(options: dict[str, bool]) -> None:
    keras_preprocessor = preprocessor("bert", sequence_length=256, vocabulary=wide_vocabulary(), **options)
    assert_same_inputs(keras_preprocessor, "bert", [*TRICKY_TEXTS, *CORPUS])


def test_empty_text_is_cls_sep() -> None:
    step = serve_step(preprocessor("bert", sequence_length=8), "bert")
    tokenizer = preprocessor("bert").tokenizer
    row = step.encode([""])["token_ids"][0].tolist()
    assert row == [tokenizer.cls_token_id, tokenizer.sep_token_id] + [tokenizer.pad_token_id] * 6


def test_wordpiece_every_code_point() -> None:
    """Every code point, lowercased and stripped of accents: splitting (RE2's classes), ICU's case folding and NFD,
    the marks dropped, and WordPiece over a vocabulary holding every character. One word a code point, "{c}y{c}": a
    word start, a "##" continuation, and a split on either side."""
    keras_preprocessor = preprocessor(
        "bert", sequence_length=512, vocabulary=wide_vocabulary(), lowercase=True, strip_accents=True
    )
    assert_same_inputs(keras_preprocessor, "bert", code_point_texts("{c}y{c}", per_text=128))


@pytest.mark.parametrize(
    "options",
    [
        {"lowercase": False, "strip_accents": False},
        {"lowercase": True, "strip_accents": False},
        {"lowercase": False, "strip_accents": True},
    ],
)
def test_wordpiece_other_options_where_they_act(options: dict[str, bool], changed_code_points: list[int]) -> None:
    """The other option sets differ from the sweep above only where case folding or NFD changes a character (both
    sides leave every other one alone, which the sweep checks): those code points, as TensorFlow finds them."""
    assert len(changed_code_points) > 10_000
    texts = [
        " ".join(f"{chr(cp)}y{chr(cp)}" for cp in changed_code_points[start : start + 128])
        for start in range(0, len(changed_code_points), 128)
    ]
    keras_preprocessor = preprocessor("bert", sequence_length=512, vocabulary=wide_vocabulary(), **options)
    assert_same_inputs(keras_preprocessor, "bert", texts)


@pytest.fixture(scope="module")
def changed_code_points() -> list[int]:
    """The code points tensorflow-text's NFKC case folding or NFD changes, in one vectorized call each."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    points = code_points()
    chars = tf.constant([chr(cp).encode("utf-8", "surrogatepass") for cp in points])
    folded = tf_text.case_fold_utf8(chars).numpy()
    decomposed = tf_text.normalize_utf8(chars, "NFD").numpy()
    original = chars.numpy()
    return [cp for cp, o, f, d in zip(points, original, folded, decomposed, strict=True) if f != o or d != o]


SEPARATOR = "\x00|\x00"  # between the pieces compared: no text of the sweep holds it


def test_byte_bpe_every_code_point_splits_as_keras_hub() -> None:
    """Every code point in context, split into the pieces BPE merges, against KerasHub's own split function in one
    TensorFlow call (its merge loop costs ~10 ms a text; the merges are checked on every 48th code point below)."""
    import tensorflow as tf
    from keras_hub.src.tokenizers.byte_pair_tokenizer import split_strings_for_bpe

    keras_preprocessor = preprocessor("roberta", sequence_length=1024)
    tokenizer = keras_preprocessor.tokenizer
    texts = code_point_texts(" x{c}1 {c}'s{c}", 64)
    expected = split_strings_for_bpe(tf.constant(texts), tokenizer.unsplittable_tokens).to_list()
    spec = serve_step(keras_preprocessor, "roberta").spec
    ours = ByteLevelBpeTokenizer(
        dict(spec.bpe_vocabulary),
        list(spec.merges),
        unsplittable=list(spec.unsplittable_tokens),
        add_prefix_space=False,
    )
    for text, pieces in zip(texts, expected, strict=True):
        assert ours.pieces(text) == [piece.decode("utf-8") for piece in pieces], text[:120]


def test_byte_bpe_merges_on_code_points() -> None:
    points = code_points()[::48]
    texts = [
        " ".join(f"x{chr(cp)}1 {chr(cp)}" for cp in points[start : start + 96]) for start in range(0, len(points), 96)
    ]
    assert_same_inputs(preprocessor("roberta", sequence_length=1024), "roberta", texts)


def test_sentencepiece_every_code_point() -> None:
    assert_same_inputs(preprocessor("albert", sequence_length=1024), "albert", code_point_texts("x{c}y {c}", 64))

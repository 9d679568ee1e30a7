"""The service's text step against TensorFlow itself, over every Unicode code point.

Python's str.lower() and str.split() differ from tf.strings.lower and tf.strings.split on thousands of characters;
the step must follow TensorFlow on all of them, so each comparison here runs both on the same texts.
"""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest

from model_export.text.corpus import TRICKY_TEXTS
from model_export.text.layers import text_layer_spec
from service.contract.errors import InvalidText
from service.contract.text.keras_layers import TextStep

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

STANDARDIZE = ["lower_and_strip_punctuation", "lower", "strip_punctuation", None]
SPLIT = ["whitespace", "character", None]
CODE_POINTS = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]  # surrogates are not text
SPECIAL = "İıẞßﬁﬂΣσςΟΔΟΣ\u00a0\u2028\u2029\u200b\u200d\ufeff\u0301\u0308\x1c\x85\u3000😀👩‍👩‍👧🇫🇷"


def _unicode_texts() -> list[str]:
    """Every code point, in texts of 257 (in order, and shuffled among spaces and ASCII letters)."""
    characters = [chr(c) for c in CODE_POINTS]
    in_order = ["".join(characters[i : i + 257]) for i in range(0, len(characters), 257)]
    rng = random.Random(0)
    shuffled = characters[:]
    rng.shuffle(shuffled)
    mixed = []
    for i in range(0, len(shuffled), 257):
        chunk = shuffled[i : i + 257] + list("AbC dEf \t\nGhI") + list(SPECIAL)
        rng.shuffle(chunk)
        mixed.append("".join(chunk))
    return in_order + mixed + list(TRICKY_TEXTS) + [SPECIAL, SPECIAL.upper(), " ".join(SPECIAL)]


UNICODE_TEXTS = _unicode_texts()


def _tensorflow_tokens(layer, texts: list[str]) -> list[list[bytes]]:
    """Keras' own standardize + split on a batch, as UTF-8 bytes per text."""
    strings = tf.constant([t.encode("utf-8") for t in texts])
    if layer._split is None:
        standardized = layer._preprocess(strings[:, None]).numpy()
        return [[row[0]] for row in standardized]
    return layer._preprocess(strings).to_list()


@pytest.mark.parametrize("split", SPLIT)
@pytest.mark.parametrize("standardize", STANDARDIZE)
def test_tokens_match_tensorflow_on_every_code_point(standardize, split):
    layer = keras.layers.TextVectorization(standardize=standardize, split=split, vocabulary=["x"])
    step = TextStep(text_layer_spec(layer, "text", (1,), "ids", needs_token=False))
    expected = _tensorflow_tokens(layer, UNICODE_TEXTS)
    for text, theirs in zip(UNICODE_TEXTS, expected, strict=True):
        mine = [t if isinstance(t, bytes) else t.encode("utf-8") for t in step.tokens(text)]
        assert mine == theirs, f"{standardize}/{split} differ on {text[:40]!r}"


def test_python_lower_and_split_would_not_match():
    """Why the step works on UTF-8 bytes: Python's Unicode-aware versions differ from TensorFlow's."""
    characters = [chr(c) for c in CODE_POINTS]
    tf_lower = tf.strings.lower(tf.constant([c.encode("utf-8") for c in characters])).numpy()
    differs = [c for c, lowered in zip(characters, tf_lower, strict=True) if lowered.decode("utf-8") != c.lower()]
    assert len(differs) > 1000 and {"É", "İ", "Σ", "ẞ"} <= set(differs)
    splitting = [c for c in characters if len(f"a{c}b".split()) == 2]
    tf_splitting = [c for c in splitting if len(tf.strings.split(tf.constant([f"a{c}b"])).to_list()[0]) == 2]
    assert set(tf_splitting) == set(" \t\n\x0b\x0c\r") and "\u00a0" in splitting and "\u2028" in splitting


@pytest.mark.parametrize("split", SPLIT)
@pytest.mark.parametrize("standardize", STANDARDIZE)
@pytest.mark.parametrize("output_mode", ["int", "multi_hot", "count", "tf_idf"])
def test_transform_matches_the_layer(standardize, split, output_mode):
    """Whole rows (ids, padding, counts, tf-idf weights) from a vocabulary adapted on non-ASCII text."""
    rng = random.Random(hash((standardize, split, output_mode)) % 1000)
    sample = [t for t in UNICODE_TEXTS if len(t) < 300]
    adapt_on = rng.sample(sample, 40) + list(TRICKY_TEXTS)
    ngrams = 2 if split == "whitespace" else None
    length = 30 if output_mode == "int" else None
    layer = keras.layers.TextVectorization(
        max_tokens=400,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
        output_mode=output_mode,
        output_sequence_length=length,
    )
    layer.adapt(tf.constant([t.encode("utf-8") for t in adapt_on])[:, None])
    step = TextStep(text_layer_spec(layer, "text", (1,), "ids", needs_token=False))
    texts = adapt_on + rng.sample(sample, 40)
    theirs = np.asarray(layer(tf.constant([t.encode("utf-8") for t in texts])[:, None]))
    mine = step.transform(texts)
    assert mine.dtype == (np.int64 if output_mode == "int" else np.float32)
    assert mine.shape == theirs.shape
    np.testing.assert_array_equal(mine, theirs.astype(mine.dtype))


def test_string_lookup_with_mask_and_without_oov():
    lookup = keras.layers.StringLookup(vocabulary=["fr", "de", "Été"], mask_token="", output_mode="int")
    step = TextStep(text_layer_spec(lookup, "country", (1,), "country_ids", needs_token=False))
    texts = ["fr", "", "Été", "été", "xx"]
    np.testing.assert_array_equal(step.transform(texts), np.asarray(lookup(np.asarray(texts, object)[:, None])))
    strict = keras.layers.StringLookup(vocabulary=["fr", "de"], num_oov_indices=0, output_mode="one_hot")
    strict_step = TextStep(text_layer_spec(strict, "country", (), "country_one_hot", needs_token=False))
    np.testing.assert_array_equal(strict_step.transform(["de", "fr"]), np.asarray(strict(np.asarray(["de", "fr"]))))
    with pytest.raises(InvalidText, match="'xx' is not one of the model's 2 known values"):
        strict_step.transform(["fr", "xx"])
    with pytest.raises(tf.errors.InvalidArgumentError):  # Keras refuses it too
        strict(np.asarray(["fr", "xx"]))


def test_token_ending_in_nul_keeps_its_id():
    """get_vocabulary() drops a token's trailing NUL (numpy fixed-width strings); the table itself does not."""
    layer = keras.layers.TextVectorization(output_sequence_length=3)
    layer.adapt(tf.constant([b"x\x00 y", b"x\x00 z x\x00"])[:, None])
    assert "x" in layer.get_vocabulary()  # the lossy view
    step = TextStep(text_layer_spec(layer, "text", (1,), "ids", needs_token=False))
    texts = ["x\x00 y", "x y", "\x00"]
    expected = np.asarray(layer(tf.constant([t.encode("utf-8") for t in texts])[:, None]))
    np.testing.assert_array_equal(step.transform(texts), expected)
    assert expected[0, 0] not in (0, 1)  # a known token, not padding or OOV

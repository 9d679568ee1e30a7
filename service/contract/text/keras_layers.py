"""Raw text to the ONNX input that a Keras `TextVectorization` or `StringLookup` layer gives, without TensorFlow.

The exporter cuts a text model after its text layers: the ONNX graph takes what those layers output (token ids or
multi-hot / count / tf-idf rows), and the layers themselves become a declared spec in the model's metadata
(`spec.py`). This module applies that spec, exactly as Keras 3 with TensorFlow does:

- lowercasing is `tf.strings.lower` with its default encoding: ASCII letters only ('É', 'İ', 'Σ' stay as they are;
  Python's `str.lower()` would change 1,407 characters TensorFlow leaves alone);
- punctuation is Keras' regex class: the 32 ASCII punctuation characters only ('¿', '«', '。' stay);
- whitespace splitting is `tf.strings.split`: runs of the 6 ASCII whitespace characters (space, \\t, \\n, \\v, \\f,
  \\r); NBSP, U+2028 and the other Unicode spaces are part of a token (Python's `str.split()` would split on 29);
- character splitting is per Unicode code point (`tf.strings.unicode_split`); no normalization anywhere.

All four are byte operations on the UTF-8 text (ASCII bytes never occur inside a multi-byte UTF-8 sequence), so
`bytes.lower()`, `bytes.translate()` and `bytes.split()` reproduce them exactly and fast.
`tests/integration/export/test_text_step_tensorflow.py` checks this against TensorFlow over every Unicode code point.

Interface for the service:

- `text_steps_from_metadata(metadata)`: the steps of a model, from its ONNX `metadata_props`; [] for a model with no
  text input; ValueError (a readable message) for a malformed spec: refuse to load the model.
- `TextStep.name`: the string input clients send text for (the Keras input's name). Several steps may share a name
  (one text read by two layers); each feeds its own ONNX input. The model's client-facing inputs are the steps'
  names plus the ONNX inputs no step feeds.
- `TextStep.feeds`, `.dtype` (int64 or float32), `.row_shape`: the ONNX input it fills and one text's row in it.
- `TextStep.string_shape`: the Keras input's row shape, () or (1,): one string per row either way (what v2 / TF
  Serving metadata may report as the input's shape).
- `TextStep.transform(texts)`: [len(texts), *row_shape] in `dtype`, each row what Keras gives for that text alone.
- `TextStep.variable_length` (int mode without `output_sequence_length`): Keras pads a batch to its longest text,
  which changes the other texts' answers. Decision: such a model is served as Keras answers each text alone. Its
  ONNX input is [batch, tokens] and `row_shape` is (None,); `transform_rows(texts)` gives each text's row at its own
  length, and `group_equal_lengths({feeds: rows, ...})` (numeric inputs' rows included) stacks the texts whose rows
  have the same shape in every feed: one ONNX Runtime call per group. Batching and chunking may gather texts from
  any requests, but only within a group, so an answer never depends on its batch-mates.
- `TextStep.needs_token`: a text with no token left after standardization and splitting (empty, whitespace or
  punctuation only) gets `InvalidText` (a 400: "row N of input 'x' has no token after standardization ...")
  instead of the NaN Keras computes for it. Always true for variable-length steps (a zero-length sequence); for
  fixed-length ones the exporter sets it when the model answers such a text with NaN.
- `TextStep.needs_known_token` (the exporter's `--refuse-empty-texts`): a text none of whose tokens is in the
  vocabulary (empty, or unknown words only) gets `InvalidText` ("... has no word this model knows ...") instead of
  the answer Keras gives it, which comes from the biases (and the OOV column) alone.
- Errors caused by the text (`InvalidText`, a 400 in the service, raised by `tokens`, `token_ids`, `transform` and
  `transform_rows`): not a string, a lone surrogate (not encodable as UTF-8), no token where one is needed, a value
  outside the vocabulary of a StringLookup that has no OOV index. Decoding (UTF-8 of binary BYTES) and size limits
  are the service's; the step takes `str` only.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np

from ..errors import InvalidText
from ..metadata import TEXT_STEPS
from .spec import TextStepSpec, parse_specs

_PUNCTUATION = string.punctuation.encode("ascii")  # Keras' regex class, exactly these 32 bytes
_MISSING = -1  # token outside a vocabulary with no OOV index
_DROPPED = -2  # the mask token in multi_hot / count / tf_idf rows


def text_steps_from_metadata(metadata: Mapping[str, str]) -> list[TextStep]:
    """The text steps declared in an ONNX model's metadata_props (key `text_steps`); [] when it has none."""
    raw = metadata.get(TEXT_STEPS)
    if raw is None:
        return []
    return [TextStep(spec) for spec in parse_specs(raw)]


class TextStep:
    """One string input's text layer, reproduced: strings in, the layer's output rows out."""

    def __init__(self, spec: TextStepSpec) -> None:
        self.spec = spec
        self.name = spec.input
        self.feeds = spec.feeds
        self.string_shape = spec.string_shape
        self.row_shape = spec.row_shape
        self.variable_length = spec.variable_length
        self.needs_token = spec.needs_token
        self.needs_known_token = spec.needs_known_token
        self.dtype = np.dtype(np.int64) if spec.output_mode == "int" else np.dtype(np.float32)
        self._lower = spec.standardize in ("lower", "lower_and_strip_punctuation")
        self._strip = spec.standardize in ("strip_punctuation", "lower_and_strip_punctuation")
        self._characters = spec.split == "character"
        # Tokens are bytes (as TensorFlow holds them), or str code points when splitting into characters.
        key = (lambda token: token) if self._characters else (lambda token: token.encode("utf-8"))
        self._oov = _MISSING if spec.oov_index is None else spec.oov_index
        self._ids = _Vocabulary(
            self._oov, {key(token): spec.token_start + i for i, token in enumerate(spec.vocabulary)}
        )
        self._mask = None if spec.mask_token is None else key(spec.mask_token)
        if self._mask is not None:
            self._ids[self._mask] = 0 if spec.output_mode == "int" else _DROPPED
        self._keep = spec.output_sequence_length  # Keras cuts the ids after this many; so can the tokens
        self._separator = " " if self._characters else b" "
        self._idf = None if spec.idf_weights is None else np.asarray(spec.idf_weights, np.float32)

    def __repr__(self) -> str:
        return f"TextStep({self.name!r} -> {self.feeds!r}, {self.spec.layer}, {self.spec.output_mode})"

    def tokens(self, text: str, position: int = 0) -> list[bytes] | list[str]:
        """The tokens Keras makes of `text`: standardized, split and n-grammed, before the vocabulary lookup."""
        if type(text) is not str:
            raise InvalidText(f"input {self.name!r} takes text, but row {position} is {value_kind(text)}")
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidText(
                f"row {position} of input {self.name!r} is not valid Unicode text (it holds a lone surrogate)"
            ) from None
        if self._lower:
            data = data.lower()
        if self._strip:
            data = data.translate(None, _PUNCTUATION)
        split = self.spec.split
        if split == "whitespace":
            tokens = data.split()
        elif self._characters:
            tokens = list(data.decode("utf-8"))
        else:
            tokens = [data]
        if self.spec.ngrams is not None:
            tokens = _ngrams(tokens, self.spec.ngrams, self._separator)
        if self.needs_token and all(token == self._mask for token in tokens):
            raise InvalidText(
                f"row {position} of input {self.name!r} has no token after standardization (it is empty, or only "
                "whitespace or punctuation), so this model has nothing to read; send at least one word"
            )
        if self.needs_known_token and not self._knows_one(tokens):
            raise InvalidText(
                f"row {position} of input {self.name!r} has no word this model knows (it is empty, or none of its "
                "tokens is in the model's vocabulary), and the model was exported to refuse such a text rather than "
                "answer it from its biases alone; send text with at least one known word"
            )
        return tokens

    def _knows_one(self, tokens: list[bytes] | list[str]) -> bool:
        """Whether a token the layer reads (within output_sequence_length) has a vocabulary id: not the mask, not
        the OOV id."""
        start, ids = self.spec.token_start, self._ids
        return any(ids[token] >= start for token in (tokens if self._keep is None else tokens[: self._keep]))

    def token_ids(self, text: str, position: int = 0) -> list[int]:
        """Vocabulary ids of the tokens, as the layer's lookup gives them (mask and OOV included), cut to
        output_sequence_length (the padding to it is `transform`'s)."""
        tokens = self.tokens(text, position)
        if self._keep is not None:
            tokens = tokens[: self._keep]
        ids = list(map(self._ids.__getitem__, tokens))
        if self._oov == _MISSING and _MISSING in ids:
            token = tokens[ids.index(_MISSING)]
            shown = token if isinstance(token, str) else token.decode("utf-8")
            raise InvalidText(
                f"row {position} of input {self.name!r}: {shown[:80]!r} is not one of the model's "
                f"{len(self.spec.vocabulary)} known values"
            )
        return ids

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), *row_shape] in `dtype`: each row what the Keras layer gives for that text alone.

        A variable-length step's texts must all have the same token count (see `group_equal_lengths`)."""
        ids = [self.token_ids(text, position) for position, text in enumerate(texts)]
        if self.spec.output_mode == "int":
            return self._int_rows(ids)
        depth = self.spec.depth
        counts = np.fromiter(chain.from_iterable(ids), np.int64, sum(map(len, ids)))
        cells = np.repeat(np.arange(len(ids), dtype=np.int64) * depth, list(map(len, ids))) + counts
        cells = cells[counts != _DROPPED]  # the mask token counts for nothing
        if self.spec.output_mode in ("multi_hot", "one_hot"):
            rows = np.zeros(len(ids) * depth, np.float32)
            rows[cells] = 1.0
        else:
            rows = np.bincount(cells, minlength=len(ids) * depth).astype(np.float32)
            if self._idf is not None:
                rows = (rows.reshape(len(ids), depth) * self._idf).reshape(-1)  # float32, as Keras
        return rows.reshape(len(ids), depth)

    def transform_rows(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One row per text, each of its own shape: what a variable-length step's texts become before grouping."""
        if not self.variable_length:
            return list(self.transform(texts))
        return [np.asarray(self.token_ids(text, position), np.int64) for position, text in enumerate(texts)]

    def _int_rows(self, ids: list[list[int]]) -> np.ndarray:
        length = self.spec.output_sequence_length
        if length is None:
            if self.variable_length and len({len(row) for row in ids}) > 1:
                raise ValueError(f"{self!r}: texts of different token counts cannot share one array")
            width = len(ids[0]) if ids else 0
            return np.asarray(ids, np.int64).reshape(len(ids), *((width,) if self.variable_length else self.row_shape))
        rows = np.zeros((len(ids), length), np.int64)  # Keras pads with 0 (token_ids already cut)
        for position, row in enumerate(ids):
            rows[position, : len(row)] = row
        return rows


def group_equal_lengths(
    rows_per_feed: Mapping[str, Sequence[np.ndarray]],
) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Texts whose rows have the same shape in every feed, stacked: [(positions, {feed: [n, ...] array}), ...].

    Positions index the texts as given; groups come in order of their first text."""
    feeds = list(rows_per_feed)
    count = len(rows_per_feed[feeds[0]]) if feeds else 0
    groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
    for position in range(count):
        groups.setdefault(tuple(rows_per_feed[f][position].shape for f in feeds), []).append(position)
    return [
        (np.asarray(positions), {f: np.stack([rows_per_feed[f][p] for p in positions]) for f in feeds})
        for positions in groups.values()
    ]


class _Vocabulary(dict):
    """token -> id; a token outside the vocabulary gets the OOV id (or _MISSING when there is none)."""

    def __init__(self, oov: int, ids: dict) -> None:
        super().__init__(ids)
        self.oov = oov

    def __missing__(self, token: bytes | str) -> int:
        return self.oov


def _ngrams(tokens: list, widths: Sequence[int], separator: bytes | str) -> list:
    """tf.strings.ngrams(separator=" "): every width in the given order, no padding, short texts give none."""
    grams = []
    for width in widths:
        if width == 1:
            grams.extend(tokens)
        else:  # zip stops at the shortest: one gram per position with `width` tokens from it
            grams.extend(map(separator.join, zip(*(tokens[k:] for k in range(width)), strict=False)))
    return grams


def value_kind(value: object) -> str:
    """What a non-text value is, in words for the caller."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bytes):
        return "bytes (decode UTF-8 first)"
    return "not text"

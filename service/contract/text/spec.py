"""The declared text-step spec an exported model carries in its ONNX metadata: format, parsing and checks.

One metadata entry, `text_steps`, holds JSON `{"format": 1, "steps": [STEP, ...]}`. Each STEP describes one Keras
`TextVectorization` or `StringLookup` layer that sat between a string input and the rest of the model:

    input                   the Keras string input's name (what clients send text for)
    string_shape            its row shape in Keras: [] for keras.Input(shape=()), [1] for shape=(1,)
    feeds                   the ONNX input the step produces
    layer                   "TextVectorization" or "StringLookup"
    standardize             "lower_and_strip_punctuation", "lower", "strip_punctuation" or null
    split                   "whitespace", "character" or null
    ngrams                  n-gram widths in Keras' order, e.g. [1, 2], or null
    output_mode             "int", "one_hot", "multi_hot", "count" or "tf_idf"
    output_sequence_length  int mode: pad or cut every text to this many ids; null = its own token count
    vocabulary              tokens in index order; token i has id token_start + i
    token_start             id of the first vocabulary token
    oov_index               id of every token outside the vocabulary; null = such a token is an error
    mask_token              the token that means "nothing" (id 0 in int mode, not counted otherwise), or null
    depth                   width of a multi_hot / count / tf_idf / one_hot row (null in int mode)
    idf_weights             tf_idf only: `depth` float32 weights
    needs_token             true: a text with no token after standardization gets no answer (a 400)
    needs_known_token       optional, default false: true means a text none of whose tokens is in the vocabulary
                            (empty, or unknown words only) gets no answer (a 400) instead of the answer Keras gives it
                            (from the biases and the OOV column alone); the exporter's --refuse-empty-texts. Written
                            only when true, so that a file without it stays readable by servers that predate it, and
                            a file with it is refused by them rather than served without the refusal.

Only `json` here: the spec is data, and a malformed one is a ValueError whose message names the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from ..metadata import TEXT_STEPS as METADATA_KEY
from .json_fields import JsonFields, is_int, is_name, versioned_document

SPEC_FORMAT = 1

STANDARDIZE_MODES = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
SPLIT_MODES = ("whitespace", "character", None)
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
LAYERS = ("TextVectorization", "StringLookup")


@dataclass(frozen=True)
class TextStepSpec:
    input: str
    string_shape: tuple[int, ...]
    feeds: str
    layer: str
    standardize: str | None
    split: str | None
    ngrams: tuple[int, ...] | None
    output_mode: str
    output_sequence_length: int | None
    vocabulary: tuple[str, ...]
    token_start: int
    oov_index: int | None
    mask_token: str | None
    depth: int | None
    idf_weights: tuple[float, ...] | None
    needs_token: bool
    needs_known_token: bool = False

    @property
    def variable_length(self) -> bool:
        """Each text's row is as long as its own token count (Keras pads a batch to its longest text)."""
        return self.output_mode == "int" and self.output_sequence_length is None and self.split is not None

    @property
    def row_shape(self) -> tuple[int | None, ...]:
        """Shape of one text's row in the ONNX input; None is the token axis of a variable-length step."""
        if self.output_mode != "int":
            return (self.depth,)
        if self.output_sequence_length is not None:
            return (self.output_sequence_length,)
        return (None,) if self.split is not None else self.string_shape

    def to_json(self) -> dict[str, Any]:
        fields = asdict(self)
        for key in _OPTIONAL_FIELDS:
            if fields[key] is False:
                del fields[key]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()}


_OPTIONAL_FIELDS = ("needs_known_token",)  # absent means false


def dump_specs(specs: list[TextStepSpec]) -> str:
    """The `text_steps` metadata value."""
    return json.dumps({"format": SPEC_FORMAT, "steps": [spec.to_json() for spec in specs]}, ensure_ascii=False)


def parse_specs(text: str) -> list[TextStepSpec]:
    """The specs in a `text_steps` metadata value; ValueError naming what is wrong."""
    document = versioned_document(text, METADATA_KEY, SPEC_FORMAT)
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"metadata '{METADATA_KEY}' must hold a non-empty list 'steps'")
    specs = [_parse_step(step, index) for index, step in enumerate(steps)]
    feeds = [spec.feeds for spec in specs]
    if len(set(feeds)) != len(feeds):
        raise ValueError(f"metadata '{METADATA_KEY}': two steps feed the same ONNX input ({feeds})")
    return specs


def _parse_step(raw: Any, index: int) -> TextStepSpec:
    where = f"metadata '{METADATA_KEY}' step {index}"
    fields = JsonFields(raw, where, TextStepSpec.__dataclass_fields__, _OPTIONAL_FIELDS)
    field, choice = fields.field, fields.choice

    output_mode = choice("output_mode", OUTPUT_MODES)
    vocabulary = field("vocabulary", lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "strings")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"{where}: 'vocabulary' holds a token twice")
    spec = TextStepSpec(
        input=field("input", is_name, "a non-empty string"),
        string_shape=tuple(field("string_shape", lambda v: v in ([], [1]), "[] or [1]")),
        feeds=field("feeds", is_name, "a non-empty string"),
        layer=choice("layer", LAYERS),
        standardize=choice("standardize", STANDARDIZE_MODES),
        split=choice("split", SPLIT_MODES),
        ngrams=_optional_tuple(field("ngrams", _is_widths, "null or a list of n-gram widths >= 1")),
        output_mode=output_mode,
        output_sequence_length=field("output_sequence_length", _is_optional_count, "null or an integer >= 1"),
        vocabulary=tuple(vocabulary),
        token_start=field("token_start", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
        oov_index=field("oov_index", lambda v: v is None or (is_int(v) and v >= 0), "null or an integer >= 0"),
        mask_token=field("mask_token", lambda v: v is None or isinstance(v, str), "null or a string"),
        depth=field("depth", _is_optional_count, "null or an integer >= 1"),
        idf_weights=_optional_tuple(field("idf_weights", _is_weights, "null or a list of numbers")),
        needs_token=field("needs_token", lambda v: isinstance(v, bool), "true or false"),
        needs_known_token=_is_true("needs_known_token", raw, where),
    )
    _check_consistency(spec, where)
    return spec


def _check_consistency(spec: TextStepSpec, where: str) -> None:
    problems = []
    ids_end = spec.token_start + len(spec.vocabulary)
    if spec.output_mode == "int":
        if spec.depth is not None or spec.idf_weights is not None:
            problems.append("int mode takes no 'depth' or 'idf_weights'")
    elif spec.depth is None or spec.depth < ids_end:
        problems.append(f"'depth' must cover every id (at least {ids_end})")
    if spec.output_mode == "tf_idf" and (spec.idf_weights is None or len(spec.idf_weights) != spec.depth):
        problems.append("tf_idf needs 'depth' idf_weights")
    if spec.output_mode not in ("int", "tf_idf") and spec.idf_weights is not None:
        problems.append("only tf_idf takes 'idf_weights'")
    if spec.oov_index is not None and spec.oov_index >= spec.token_start:
        problems.append("'oov_index' must come before 'token_start'")
    if spec.output_sequence_length is not None and spec.output_mode != "int":
        problems.append("'output_sequence_length' is for int mode only")
    if spec.layer == "StringLookup" and (spec.standardize or spec.split or spec.ngrams):
        problems.append("a StringLookup neither standardizes, splits nor makes n-grams")
    if spec.variable_length and not spec.needs_token:
        problems.append("a step without output_sequence_length needs a token in every text ('needs_token')")
    if spec.ngrams is not None and spec.split is None:
        problems.append("n-grams need a split")
    if spec.output_mode == "one_hot" and spec.split is not None:
        problems.append("one_hot takes one token per text")
    if spec.output_mode in ("multi_hot", "count", "tf_idf") and spec.split is None and spec.string_shape != (1,):
        problems.append(f"{spec.output_mode} without a split needs a string input of shape [1]")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def _is_true(name: str, raw: dict[str, Any], where: str) -> bool:
    """An optional flag: absent is false."""
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: '{name}' must be true or false, got {json.dumps(value)[:80]}")
    return value


def _is_optional_count(value: Any) -> bool:
    return value is None or (is_int(value) and value >= 1)


def _is_widths(value: Any) -> bool:
    return value is None or (isinstance(value, list) and bool(value) and all(is_int(w) and w >= 1 for w in value))


def _is_weights(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(_is_finite_number(w) for w in value))


def _is_finite_number(value: Any) -> bool:
    # json.loads accepts NaN and Infinity; a weight must be neither.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)

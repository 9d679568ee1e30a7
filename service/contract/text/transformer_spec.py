"""The declared tokenizer step of a KerasHub text classifier, as carried in the exported model's metadata.

One metadata entry (`METADATA_KEY`) holds JSON `{"format": 1, "step": STEP}`. STEP has every field below; a field
that does not apply to the tokenizer kind is null.

    input               the string input clients send ("text")
    tokenizer           "wordpiece" (BERT, DistilBERT), "byte_bpe" (RoBERTa) or "sentencepiece" (ALBERT)
    keras_tokenizer     the KerasHub tokenizer class it was read from (for people; not used to tokenize)
    vocabulary          wordpiece: tokens in id order
    lowercase, strip_accents, split_on_cjk, suffix_indicator, oov_token
                        wordpiece: KerasHub's WordPieceTokenizer options
    bpe_vocabulary      byte_bpe: {token: id}
    merges              byte_bpe: merge rules "a b", highest priority first
    unsplittable_tokens byte_bpe: tokens matched whole in the text (KerasHub: its special tokens)
    add_prefix_space    byte_bpe: a space is put before the text
    sentencepiece_model sentencepiece: the model proto, base64
    vocabulary_size     token ids must be below this (the backbone's embedding rows)
    sequence_length     the preprocessor's: start, text and end tokens are cut to this many
    truncate            "round_robin" or "waterfall" (one text: both keep its first tokens)
    start_ids, end_ids  ids put before and after the text ([CLS] / [SEP], <s> / </s>)
    pad_id              id of the padding; padding_mask is token_ids != pad_id, as in KerasHub
    token_ids_input     ONNX input fed the token ids
    segment_ids_input   ONNX input fed zeros (one text is segment 0), or null when the backbone takes none
    padding_mask_input  ONNX input fed the padding mask, or null
    input_dtype         "int32" or "int64": the element type of those ONNX inputs

Only stdlib (and byte_bpe's byte table) here: the spec is data, and a malformed one is a ValueError whose message
names the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from typing import Any

from ..metadata import TEXT_TRANSFORMER as METADATA_KEY
from .byte_bpe import byte_symbols
from .json_fields import JsonFields, is_int, is_name, versioned_document

SPEC_FORMAT = 1
TOKENIZERS = ("wordpiece", "byte_bpe", "sentencepiece")
TRUNCATIONS = ("round_robin", "waterfall")
INPUT_DTYPES = ("int32", "int64")
KIND_FIELDS = {
    "wordpiece": ("vocabulary", "lowercase", "strip_accents", "split_on_cjk", "suffix_indicator", "oov_token"),
    "byte_bpe": ("bpe_vocabulary", "merges", "unsplittable_tokens", "add_prefix_space"),
    "sentencepiece": ("sentencepiece_model",),
}


@dataclass(frozen=True)
class TransformerTextSpec:
    input: str
    tokenizer: str
    keras_tokenizer: str
    vocabulary: tuple[str, ...] | None
    lowercase: bool | None
    strip_accents: bool | None
    split_on_cjk: bool | None
    suffix_indicator: str | None
    oov_token: str | None
    bpe_vocabulary: dict[str, int] | None
    merges: tuple[str, ...] | None
    unsplittable_tokens: tuple[str, ...] | None
    add_prefix_space: bool | None
    sentencepiece_model: str | None
    vocabulary_size: int
    sequence_length: int
    truncate: str
    start_ids: tuple[int, ...]
    end_ids: tuple[int, ...]
    pad_id: int
    token_ids_input: str
    segment_ids_input: str | None
    padding_mask_input: str | None
    input_dtype: str

    @property
    def onnx_inputs(self) -> tuple[str, ...]:
        names = (self.token_ids_input, self.segment_ids_input, self.padding_mask_input)
        return tuple(name for name in names if name is not None)

    def sentencepiece_bytes(self) -> bytes:
        return base64.b64decode(self.sentencepiece_model or "")

    def to_json(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def dump_spec(spec: TransformerTextSpec) -> str:
    """The `METADATA_KEY` metadata value."""
    return json.dumps({"format": SPEC_FORMAT, "step": spec.to_json()}, ensure_ascii=False)


def parse_spec(text: str) -> TransformerTextSpec:
    """The spec in a `METADATA_KEY` metadata value; ValueError naming what is wrong."""
    document = versioned_document(text, METADATA_KEY, SPEC_FORMAT)
    return spec_from_json(document.get("step"))


def spec_from_json(raw: Any) -> TransformerTextSpec:
    where = f"metadata '{METADATA_KEY}' step"
    fields = JsonFields(raw, where, TransformerTextSpec.__dataclass_fields__)
    field, choice = fields.field, fields.choice

    kind = choice("tokenizer", TOKENIZERS)
    for other, names in KIND_FIELDS.items():
        for name in names:
            if other != kind and raw[name] is not None:
                raise ValueError(f"{where}: '{name}' must be null for tokenizer {json.dumps(kind)}")

    def own(name: str, check: Any, what: str) -> Any:
        """A field of this tokenizer kind: required, not null."""
        return field(name, check, what) if name in KIND_FIELDS[kind] else None

    vocabulary_size = field("vocabulary_size", lambda v: is_int(v) and v >= 1, "an integer >= 1")

    def is_id(value: Any) -> bool:
        return is_int(value) and 0 <= value < vocabulary_size

    ids_what = f"a list of token ids below vocabulary_size {vocabulary_size}"
    spec = TransformerTextSpec(
        input=field("input", is_name, "a non-empty string"),
        tokenizer=kind,
        keras_tokenizer=field("keras_tokenizer", is_name, "a non-empty string"),
        vocabulary=_tuple(own("vocabulary", _is_tokens, "a non-empty list of distinct strings")),
        lowercase=own("lowercase", _is_bool, "true or false"),
        strip_accents=own("strip_accents", _is_bool, "true or false"),
        split_on_cjk=own("split_on_cjk", _is_bool, "true or false"),
        suffix_indicator=own("suffix_indicator", is_name, "a non-empty string"),
        oov_token=own("oov_token", is_name, "a non-empty string"),
        bpe_vocabulary=own("bpe_vocabulary", lambda v: _is_bpe_vocabulary(v, is_id), f"an object token -> {ids_what}"),
        merges=_tuple(own("merges", _is_merges, 'a list of merge rules "a b"')),
        unsplittable_tokens=_tuple(own("unsplittable_tokens", _is_strings, "a list of non-empty strings")),
        add_prefix_space=own("add_prefix_space", _is_bool, "true or false"),
        sentencepiece_model=own("sentencepiece_model", _is_base64, "a base64 SentencePiece model"),
        vocabulary_size=vocabulary_size,
        sequence_length=field("sequence_length", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
        truncate=choice("truncate", TRUNCATIONS),
        start_ids=tuple(field("start_ids", lambda v: _is_list_of(v, is_id), ids_what)),
        end_ids=tuple(field("end_ids", lambda v: _is_list_of(v, is_id), ids_what)),
        pad_id=field("pad_id", is_id, f"a token id below vocabulary_size {vocabulary_size}"),
        token_ids_input=field("token_ids_input", is_name, "a non-empty string"),
        segment_ids_input=field("segment_ids_input", _is_optional_name, "null or a non-empty string"),
        padding_mask_input=field("padding_mask_input", _is_optional_name, "null or a non-empty string"),
        input_dtype=choice("input_dtype", INPUT_DTYPES),
    )
    _check_consistency(spec, where)
    return spec


def _check_consistency(spec: TransformerTextSpec, where: str) -> None:
    problems = []
    if spec.sequence_length < len(spec.start_ids) + len(spec.end_ids):
        problems.append("'sequence_length' leaves no room for the start and end tokens")
    if len(set(spec.onnx_inputs)) != len(spec.onnx_inputs):
        problems.append("two of token_ids_input, segment_ids_input, padding_mask_input name the same ONNX input")
    if spec.vocabulary is not None:
        if len(spec.vocabulary) > spec.vocabulary_size:
            problems.append("'vocabulary' has more tokens than 'vocabulary_size'")
        if spec.oov_token not in spec.vocabulary:
            problems.append("'oov_token' is not in 'vocabulary'")
    if spec.bpe_vocabulary is not None and spec.merges is not None:
        rules = [rule for rule in spec.merges if "#version:" not in rule]
        missing = [rule for rule in rules if "".join(rule.split(" ")) not in spec.bpe_vocabulary]
        if missing:
            problems.append(f"merge {missing[0]!r} makes a token that is not in 'bpe_vocabulary'")
        if absent := [symbol for symbol in byte_symbols() if symbol not in spec.bpe_vocabulary]:
            problems.append(f"'bpe_vocabulary' lacks byte symbols {absent[:5]} (KerasHub would feed id -1)")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_optional_name(value: Any) -> bool:
    return value is None or is_name(value)


def _is_list_of(value: Any, check: Any) -> bool:
    return isinstance(value, list) and all(check(item) for item in value)


def _is_strings(value: Any) -> bool:
    return _is_list_of(value, is_name)


def _is_tokens(value: Any) -> bool:
    return _is_list_of(value, lambda t: isinstance(t, str)) and bool(value) and len(set(value)) == len(value)


def _is_bpe_vocabulary(value: Any, is_id: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(is_id(i) for i in value.values())


def _is_merges(value: Any) -> bool:
    return _is_list_of(value, lambda rule: isinstance(rule, str) and len(rule.split(" ")) == 2)


def _is_base64(value: Any) -> bool:
    if not is_name(value):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)

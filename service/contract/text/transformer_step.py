"""Texts -> the ONNX inputs of a KerasHub text classifier's backbone, as its preprocessor makes them.

KerasHub's `TextClassifierPreprocessor` tokenizes each text, cuts the tokens so that start tokens + text + end
tokens fit `sequence_length` (`MultiSegmentPacker`: for one text, round_robin and waterfall both keep its first
tokens), pads with the pad id, sets segment ids to 0 and the padding mask to `token_ids != pad_id`. Padding is to
`sequence_length`, or, with `pad_to_longest`, only to the batch's longest text: the padding mask keeps padded
positions out of attention, so the logits are the same (checked per backbone in the integration tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..metadata import TEXT_TRANSFORMER
from .byte_bpe import ByteLevelBpeTokenizer
from .transformer_spec import TransformerTextSpec, parse_spec
from .wordpiece import WordPieceTokenizer


class TransformerTextStep:
    def __init__(self, spec: TransformerTextSpec) -> None:
        self.spec = spec
        self._dtype = np.dtype(spec.input_dtype)
        self._room = spec.sequence_length - len(spec.start_ids) - len(spec.end_ids)
        self._token_ids = _tokenizer(spec)

    def token_ids(self, text: str) -> list[int]:
        """The text's ids as KerasHub's tokenizer gives them, before special tokens and truncation."""
        return self._token_ids(text)

    def encode(self, texts: Sequence[str], *, pad_to_longest: bool = False) -> dict[str, np.ndarray]:
        """The ONNX inputs for `texts`; ValueError naming the first text that is not a valid Unicode string."""
        spec = self.spec
        rows = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"text {index} is not a string")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"text {index} holds a lone surrogate, which is not valid Unicode") from None
            rows.append([*spec.start_ids, *self._token_ids(text)[: self._room], *spec.end_ids])
        width = max(map(len, rows), default=len(spec.start_ids) + len(spec.end_ids))
        if not pad_to_longest:
            width = spec.sequence_length
        token_ids = np.full((len(rows), width), spec.pad_id, dtype=self._dtype)
        for row, ids in zip(token_ids, rows, strict=True):
            row[: len(ids)] = ids
        inputs = {spec.token_ids_input: token_ids}
        if spec.segment_ids_input is not None:
            inputs[spec.segment_ids_input] = np.zeros_like(token_ids)
        if spec.padding_mask_input is not None:
            inputs[spec.padding_mask_input] = (token_ids != spec.pad_id).astype(self._dtype)
        return inputs

    def merge(self, parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Rows of several `encode(..., pad_to_longest=True)` calls as one batch, padded to its longest row: the
        token ids with the pad id, segment ids and padding mask with 0, exactly what `encode` pads with."""
        width = max(part[self.spec.token_ids_input].shape[1] for part in parts)
        merged = {}
        for name in parts[0]:
            fill = self.spec.pad_id if name == self.spec.token_ids_input else 0
            merged[name] = np.concatenate([_pad_columns(part[name], width, fill) for part in parts])
        return merged


def _pad_columns(array: np.ndarray, width: int, fill: int) -> np.ndarray:
    if array.shape[1] == width:
        return array
    padded = np.full((array.shape[0], width), fill, dtype=array.dtype)
    padded[:, : array.shape[1]] = array
    return padded


def transformer_step_from_metadata(metadata: Mapping[str, str]) -> TransformerTextStep | None:
    """The tokenizer step a model file records, or None; ValueError naming the field that is wrong."""
    recorded = metadata.get(TEXT_TRANSFORMER)
    return None if recorded is None else TransformerTextStep(parse_spec(recorded))


def _tokenizer(spec: TransformerTextSpec):  # noqa: ANN202 - a bound method of one of three classes
    if spec.tokenizer == "wordpiece":
        return WordPieceTokenizer(
            list(spec.vocabulary or ()),
            lowercase=bool(spec.lowercase),
            strip_accents=bool(spec.strip_accents),
            split_on_cjk=bool(spec.split_on_cjk),
            suffix_indicator=spec.suffix_indicator or "",
            oov_token=spec.oov_token or "",
        ).token_ids
    if spec.tokenizer == "byte_bpe":
        return ByteLevelBpeTokenizer(
            dict(spec.bpe_vocabulary or {}),
            list(spec.merges or ()),
            unsplittable=list(spec.unsplittable_tokens or ()),
            add_prefix_space=bool(spec.add_prefix_space),
        ).token_ids
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=spec.sentencepiece_bytes())
    return lambda text: processor.encode(text)

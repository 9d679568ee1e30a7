"""A text model's input step: what clients send (one text per row for each text input, numbers for the others) into
the arrays ONNX Runtime takes, through the model's text steps (`service/contract/text/`).

The client-facing inputs are the steps' names (text) and the ONNX inputs no step feeds (numbers), in the order of
the ONNX inputs. A request goes through in two phases: `read` validates the columns (cheap: types, row counts, the
length of each text), `encode` runs the steps (CPU-bound Python, in proportion to the characters; the data plane
runs a large request's `encode` off the event loop).

A variable-length model (`TextStep.variable_length`: Keras pads a batch to its longest text) is answered as Keras
answers each text alone: `encode` gives one `RowGroup` per token count, and the batcher stacks only rows of equal
shapes (`RowGroup.key`), from whichever requests, so no text is ever padded for a batch-mate.

A transformer (`TransformerTextStep`: a KerasHub tokenizer and packer) pads a request's texts to its longest one,
not to `sequence_length`, and the batcher pads merged requests again to the batch's longest (`merge`): the padding
mask keeps padded positions out of attention, so every answer is the one at full length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..contract.errors import InvalidText
from ..contract.text.keras_layers import TextStep, group_equal_lengths, value_kind
from ..contract.text.transformer_step import TransformerTextStep
from .errors import InvalidInput
from .inputs import check_names, check_rows, to_array
from .types import InputSpec

# Requests with more characters than this run their text steps off the event loop (see the data plane): short
# enough to keep a request's step near a millisecond on the loop, long enough that the thread hand-off is a small
# share of the step (both measured in docs/performance/history.md).
INLINE_TEXT_CHARS = 10_000


@dataclass(frozen=True)
class RowGroup:
    """Rows of one request that run together: all of them, or (variable length) those of one token count."""

    positions: np.ndarray | None  # the request's rows in this group, ascending (None: all of them, in order)
    arrays: dict[str, np.ndarray]  # ONNX input name -> [rows, ...]
    key: tuple[tuple[int, ...], ...] | None  # variable length: the rows' shapes; the batcher stacks equal keys only


@dataclass(frozen=True)
class TextRows:
    """A request's columns, validated: texts as str lists, numbers as arrays of their input's dtype."""

    texts: dict[str, list[str]]
    numbers: dict[str, np.ndarray]
    rows: int
    characters: int  # in all of its texts: what the steps' cost grows with


class TextInputs:
    def __init__(
        self, steps: list[TextStep], inputs: list[InputSpec], transformer: TransformerTextStep | None = None
    ) -> None:
        """`inputs`: what clients send, as the contract worked them out from the steps and the graph's inputs;
        `transformer`: a transformer's tokenizer step (then `steps` is empty)."""
        self.steps = steps
        self.transformer = transformer
        self.variable_length = any(step.variable_length for step in steps)
        self.inputs = inputs
        self._texts = [spec for spec in self.inputs if spec.is_text]
        self._numbers = [spec for spec in self.inputs if not spec.is_text]

    def read(self, model_name: str, columns: dict[str, object], max_rows: int, max_text_chars: int) -> TextRows:
        """The columns validated: every input there, one text per row of each text input (each at most
        `max_text_chars` characters), numbers as `inputs.to_array` takes them, the same rows everywhere."""
        check_names(model_name, self.inputs, columns)
        texts = {spec.name: read_texts(spec.name, columns[spec.name], max_text_chars) for spec in self._texts}
        numbers = {spec.name: to_array(spec, columns[spec.name]) for spec in self._numbers}
        counts = {name: len(column) for name, column in texts.items()}
        counts.update({name: array.shape[0] for name, array in numbers.items()})
        rows = check_rows(counts, max_rows)
        characters = sum(len(text) for column in texts.values() for text in column)
        return TextRows(texts, numbers, rows, characters)

    def encode(self, rows: TextRows) -> list[RowGroup]:
        """The ONNX arrays, through the steps: one group, or one per token count for a variable-length model.
        InvalidInput names the row a step cannot read (e.g. no token where the model needs one)."""
        try:
            return self._encode(rows)
        except InvalidText as exc:
            raise InvalidInput(str(exc)) from None

    @property
    def merge(self) -> Callable[[list[dict[str, np.ndarray]]], dict[str, np.ndarray]] | None:
        """How the batcher joins requests whose rows differ in width (a transformer's), or None: they stack."""
        return None if self.transformer is None else self.transformer.merge

    def _encode(self, rows: TextRows) -> list[RowGroup]:
        if self.transformer is not None:
            (texts,) = rows.texts.values()
            try:
                arrays = self.transformer.encode(texts, pad_to_longest=True)
            except ValueError as exc:  # a text that is not valid Unicode (a lone surrogate)
                raise InvalidInput(f"input {self.transformer.spec.input!r}: {exc}") from None
            return [RowGroup(None, arrays, None)]
        if not self.variable_length:
            arrays = {step.feeds: step.transform(rows.texts[step.name]) for step in self.steps}
            return [RowGroup(None, {**arrays, **rows.numbers}, None)]
        rows_per_feed = {step.feeds: step.transform_rows(rows.texts[step.name]) for step in self.steps}
        rows_per_feed.update({name: list(array) for name, array in rows.numbers.items()})
        groups = group_equal_lengths(rows_per_feed)
        if len(groups) == 1:  # every row the same length: the request stays in order, as one group
            return [RowGroup(None, groups[0][1], _key(groups[0][1]))]
        return [RowGroup(positions, arrays, _key(arrays)) for positions, arrays in groups]


def read_texts(name: str, raw: object, max_chars: int) -> list[str]:
    """One text per row: a list of strings (a row may also be a list holding one string, as a [rows, 1] tensor's
    rows are), or an array of them of shape [rows] or [rows, 1]."""
    if isinstance(raw, np.ndarray):
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if raw.ndim != 1:
            shape = "[" + ", ".join(map(str, raw.shape)) + "]"
            raise InvalidInput(f"input {name!r} takes one text per row (shape [rows] or [rows, 1]), got shape {shape}")
        values = raw.tolist()
    elif isinstance(raw, list):
        values = [row[0] if type(row) is list and len(row) == 1 else row for row in raw]
    else:
        raise InvalidInput(f"input {name!r} takes a list with one text per row, got {value_kind(raw)}")
    for position, text in enumerate(values):
        if type(text) is not str:
            raise InvalidInput(f"input {name!r} takes text, but row {position} is {value_kind(text)}")
        if len(text) > max_chars:
            raise InvalidInput(
                f"row {position} of input {name!r} has {len(text):,} characters, over the limit of {max_chars:,} "
                "(MAX_TEXT_CHARS)"
            )
    return values


def _key(arrays: dict[str, np.ndarray]) -> tuple[tuple[int, ...], ...]:
    return tuple(array.shape[1:] for array in arrays.values())

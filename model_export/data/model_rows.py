"""A data file's rows as one exported model takes them, and the model's probabilities on them (ONNX Runtime only).

The model names the columns: the raw-text input of each of its text steps, and each other ONNX input (numbers, of
that input's type). The file is read by the one reader (reader.py); numeric arrays are checked against the model's
input shapes; texts go through the model's text steps as the service runs them, and rows with no token where a step
needs one are left out (the service answers them 400).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from model_export.data.checks import check_finite_probabilities
from model_export.data.reader import Column, read_rows, row_count
from model_export.errors import ExportError
from model_export.progress import progress_bar
from model_export.text.raw_predict import Rows, numeric_inputs, predict_raw, stacked_feeds
from service.contract.metadata import OUTPUT_PROBABILITIES
from service.contract.text.keras_layers import TextStep, text_steps_from_metadata
from service.contract.text.transformer_step import TransformerTextStep, transformer_step_from_metadata

ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}
_CHUNK_ROWS = 512
_TRANSFORMER_CHUNK = 64  # texts per call: padded to the longest of them, a smaller chunk wastes less


class ModelFeeds(NamedTuple):
    """The rows as one array per ONNX input, their labels (when asked), and how many rows had no token."""

    feeds: dict[str, np.ndarray]
    truth: np.ndarray | None
    left_out: int


def open_session(model: Path) -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several unrelated types for a bad file
        raise ExportError(f"ONNX Runtime cannot load {model}: {exc}") from exc


def text_steps_of(session: Any, model: Path) -> list[TextStep]:
    try:
        return text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    except ValueError as exc:
        raise ExportError(f"{model}: {exc}") from None


def transformer_of(session: Any, model: Path) -> TransformerTextStep | None:
    try:
        return transformer_step_from_metadata(session.get_modelmeta().custom_metadata_map)
    except ValueError as exc:
        raise ExportError(f"{model}: {exc}") from None


def read_model_rows(
    path: Path, session: Any, steps: list[TextStep], labels: list[str] | None, transformer: Any = None
) -> tuple[Rows, np.ndarray | None]:
    """The file's rows for `session` (texts by their step's input name), and their multi-hot labels when asked."""
    if transformer is not None:  # one text column, which the tokenizer step turns into every graph input
        return read_rows(path, [Column(transformer.spec.input, is_text=True)], labels)
    columns = [Column(name, is_text=True) for name in dict.fromkeys(step.name for step in steps)]
    numbers = set(numeric_inputs(session, steps))
    numeric = [node for node in session.get_inputs() if node.name in numbers]
    for node in numeric:
        if node.type not in ORT_DTYPES:
            raise ExportError(f"model input {node.name!r} has type {node.type}, which cannot be fed from {path.name}")
        columns.append(Column(node.name, is_text=False, dtype=np.dtype(ORT_DTYPES[node.type]).name))
    rows, truth = read_rows(path, columns, labels)
    for node in numeric:
        _check_shape(path, node, rows[node.name])
    return rows, truth


def score_rows(
    model: Path, data: Path, labels: list[str], show_progress: bool = False
) -> tuple[np.ndarray, np.ndarray, int]:
    """(probabilities, truth, rows left out) of `model` on the labelled rows of `data`, as the service computes them."""
    session = open_session(model)
    steps = text_steps_of(session, model)
    transformer = transformer_of(session, model)
    rows, truth = read_model_rows(data, session, steps, labels, transformer)
    skipped = 0
    if transformer is not None:
        probabilities = predict_transformer(session, transformer, rows[transformer.spec.input], show_progress)
    elif steps:
        prediction = predict_raw(session, steps, rows, max_batch=_CHUNK_ROWS)
        if not prediction.scored:
            raise ExportError(f"no row of {data.name} has a token after standardization")
        probabilities, skipped = prediction.probabilities, len(truth) - len(prediction.scored)
        truth = truth[prediction.scored]
    else:
        probabilities = predict(session, rows, show_progress)
    check_finite_probabilities(probabilities, data.name)
    return probabilities, truth, skipped


def model_feeds(path: Path, session: Any, model: Path, labels: list[str] | None = None) -> ModelFeeds:
    """The file's rows as one array per ONNX input of `session` (texts through the model's text steps)."""
    steps = text_steps_of(session, model)
    transformer = transformer_of(session, model)
    rows, truth = read_model_rows(path, session, steps, labels, transformer)
    if transformer is not None:  # every row padded to sequence_length, so that any slice of them is a batch
        return ModelFeeds(transformer.encode(rows[transformer.spec.input]), truth, 0)
    feeds, scored = stacked_feeds(session, steps, rows)
    if not scored:
        raise ExportError(f"no row of {path.name} has a token after standardization")
    left_out = row_count(next(iter(rows.values()))) - len(scored)
    return ModelFeeds(feeds, None if truth is None else truth[scored], left_out)


def predict_transformer(
    session: Any, step: TransformerTextStep, texts: list[str], show_progress: bool = False
) -> np.ndarray:
    """Probabilities of a transformer on texts, in chunks each padded to its longest text, as the service runs."""
    parts = []
    with progress_bar("running the model", len(texts), show_progress) as advance:
        for start in range(0, len(texts), _TRANSFORMER_CHUNK):
            feeds = step.encode(texts[start : start + _TRANSFORMER_CHUNK], pad_to_longest=True)
            parts.append(session.run([OUTPUT_PROBABILITIES], feeds)[0])
            advance(len(parts[-1]))
    return np.concatenate(parts).astype(np.float32, copy=False)


def predict(session: Any, inputs: Rows, show_progress: bool = False) -> np.ndarray:
    rows = next(iter(inputs.values())).shape[0]
    parts = []
    with progress_bar("running the model", rows, show_progress) as advance:
        for start in range(0, rows, _CHUNK_ROWS):
            chunk = {name: array[start : start + _CHUNK_ROWS] for name, array in inputs.items()}
            parts.append(session.run([OUTPUT_PROBABILITIES], chunk)[0])
            advance(len(parts[-1]))
    return np.concatenate(parts).astype(np.float32, copy=False)


def _check_shape(path: Path, node: Any, array: np.ndarray) -> None:
    expected = ["rows", *(d if isinstance(d, int) and d > 0 else "any" for d in node.shape[1:])]
    if array.ndim != len(node.shape) or any(
        want != "any" and got != want for got, want in zip(array.shape[1:], expected[1:], strict=True)
    ):
        raise ExportError(
            f"array {node.name!r} in {path.name} has shape {list(array.shape)}; the model takes {expected}"
        )

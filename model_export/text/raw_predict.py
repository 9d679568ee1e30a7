"""Probabilities from raw rows (texts and numbers) through the text steps and ONNX Runtime, as the service runs them.

ONNX Runtime only (no TensorFlow): calibrate uses it, and the exporter's text parity check runs the same path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_export.errors import ExportError
from service.contract.errors import InvalidText
from service.contract.text.keras_layers import TextStep, group_equal_lengths

Rows = Mapping[str, Any]  # input name -> list of texts, or a numeric array; one entry per row


@dataclass
class RawPrediction:
    probabilities: np.ndarray  # [len(scored), n_labels]
    logits: np.ndarray
    scored: list[int]  # the rows answered; the others have no token where a step needs one (a 400 in the service)
    batch_sizes: list[int]  # rows per ONNX Runtime call


def row_count(rows: Rows) -> int:
    return len(next(iter(rows.values())))


def take(rows: Rows, positions: Sequence[int]) -> dict[str, Any]:
    return {name: [v[i] for i in positions] if isinstance(v, list) else v[list(positions)] for name, v in rows.items()}


def numeric_inputs(session: Any, steps: Sequence[TextStep]) -> list[str]:
    """The ONNX inputs no text step feeds: their rows are numbers, fed as they are."""
    fed = {step.feeds for step in steps}
    return [node.name for node in session.get_inputs() if node.name not in fed]


def answerable_rows(steps: Sequence[TextStep], rows: Rows) -> list[int]:
    """Rows every step can read (the others get a 400 from the service: no token after standardization)."""
    scored = []
    for position in range(row_count(rows)):
        try:
            for step in steps:
                step.tokens(rows[step.name][position], position)
        except InvalidText:
            continue
        scored.append(position)
    return scored


def predict_raw(
    session: Any, steps: Sequence[TextStep], rows: Rows, max_batch: int = 512, numeric: Sequence[str] | None = None
) -> RawPrediction:
    """Every answerable row: texts through their steps, equal token counts stacked, one ONNX Runtime call a group."""
    if numeric is None:
        numeric = numeric_inputs(session, steps)
    scored = answerable_rows(steps, rows)
    width = session.get_outputs()[0].shape[-1]  # the exporter writes [batch, n_labels]
    probabilities = np.zeros((len(scored), width), np.float32)
    logits = np.zeros_like(probabilities)
    sizes: list[int] = []
    for start in range(0, len(scored), max_batch):
        chunk = scored[start : start + max_batch]
        selected = take(rows, chunk)
        rows_per_feed = {step.feeds: step.transform_rows(selected[step.name]) for step in steps}
        rows_per_feed.update({name: list(selected[name]) for name in numeric})
        for positions, feeds in group_equal_lengths(rows_per_feed):
            try:
                p, lg = session.run(["probabilities", "logits"], feeds)
            except Exception as exc:  # ONNX Runtime raises its own types for inputs the graph does not take
                raise ExportError(f"ONNX Runtime cannot run the model on these rows: {exc}") from None
            probabilities[start + positions], logits[start + positions] = p, lg
            sizes.append(len(positions))
    return RawPrediction(probabilities, logits, scored, sizes)


def stacked_feeds(session: Any, steps: Sequence[TextStep], rows: Rows) -> tuple[dict[str, np.ndarray], list[int]]:
    """Every answerable row in one array per ONNX input (texts through their steps), and which rows those are.

    For callers that cut their own batches (optimize scores, times and calibrates int8 on them). A step that gives
    each text its own number of token ids makes rows that do not stack: refused, naming the layer."""
    for step in steps:
        if step.variable_length:
            raise ExportError(
                f"{step.spec.layer} layer '{step.feeds}' gives each text its own number of token ids (it has no "
                "output_sequence_length), so its rows do not stack into the batches this command scores and times; "
                "set output_sequence_length on the layer and export the model again"
            )
    numeric = numeric_inputs(session, steps)
    if not steps:
        return {name: np.asarray(rows[name]) for name in numeric}, list(range(row_count(rows)))
    scored = answerable_rows(steps, rows)
    selected = take(rows, scored)
    feeds = {step.feeds: step.transform(selected[step.name]) for step in steps}
    return feeds | {name: np.asarray(selected[name]) for name in numeric}, scored

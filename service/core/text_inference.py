"""A text model's request after its columns are read: the text steps, then the batcher, then the answers in order.

Variable-length models run one batcher submission per token count (`TextInputs.encode`'s groups), each batched only
with rows of the same count, and the groups' answers are put back in the request's order.
"""

from __future__ import annotations

import asyncio

import numpy as np

from .errors import InvalidInput
from .model_state import ServedModel
from .text_inputs import INLINE_TEXT_CHARS, TextRows


async def infer_text(served: ServedModel, text_rows: TextRows) -> tuple[np.ndarray, np.ndarray]:
    """Texts through the model's text steps, then the batcher: one submission per group of rows (a
    variable-length model's token counts), put back in the request's order."""
    text_inputs = served.model.text_inputs
    if text_rows.characters > INLINE_TEXT_CHARS:  # CPU-bound Python: keep the event loop serving meanwhile
        groups = await asyncio.to_thread(text_inputs.encode, text_rows)
    else:
        groups = text_inputs.encode(text_rows)
    batcher = served.batcher
    if len(groups) == 1:
        group = groups[0]
        probabilities, logits = await batcher.submit(group.arrays, text_rows.rows, group.key)
    else:
        try:
            async with asyncio.TaskGroup() as tasks:  # one group failing cancels the others' rows
                runs = [tasks.create_task(batcher.submit(g.arrays, len(g.positions), g.key)) for g in groups]
        except ExceptionGroup as failed:  # the caller gets the first error, as from one submission
            raise failed.exceptions[0] from None
        width = len(served.model.labels)
        probabilities = np.empty((text_rows.rows, width), np.float32)
        logits = np.empty((text_rows.rows, width), np.float32)
        for group, run in zip(groups, runs, strict=True):
            probabilities[group.positions], logits[group.positions] = run.result()
    _check_answered(probabilities)
    return probabilities, logits


def _check_answered(probabilities: np.ndarray) -> None:
    """Never serve NaN: a text the model computes no number for (the exporter marks the texts it knows of with
    `needs_token`, refused before the model runs) gets a 400 instead."""
    finite = np.isfinite(probabilities).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InvalidInput(f"the model computes no probability for row {row} (NaN): it cannot answer that input")

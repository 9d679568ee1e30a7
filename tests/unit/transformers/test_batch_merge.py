"""Requests of a transformer, each padded to its own longest text, run in one ONNX Runtime call: the batcher pads
them again to the batch's longest row (the step's `merge`), exactly as one request holding all their texts."""

from __future__ import annotations

import asyncio

import numpy as np

from service.contract.text.transformer_spec import spec_from_json
from service.contract.text.transformer_step import TransformerTextStep
from service.core.batcher import Batcher
from tests.unit.transformers.specs import wordpiece_step

TEXTS = [["the"], ["the quick fox fox fox fox the a a"], ["", "fine b"]]


def step() -> TransformerTextStep:
    return TransformerTextStep(spec_from_json(wordpiece_step()))


def test_merge_is_one_request_of_all_the_texts() -> None:
    transformer = step()
    merged = transformer.merge([transformer.encode(texts, pad_to_longest=True) for texts in TEXTS])
    together = transformer.encode([text for texts in TEXTS for text in texts], pad_to_longest=True)
    assert sorted(merged) == sorted(together)
    for name, array in together.items():
        assert np.array_equal(merged[name], array) and merged[name].dtype == array.dtype, name


def test_the_batcher_runs_different_widths_in_one_call() -> None:
    transformer = step()
    calls: list[dict[str, np.ndarray]] = []

    def run(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        calls.append(arrays)
        rows = arrays["token_ids"].astype(np.float32)
        return rows[:, :1], rows[:, :1]  # one "label": the first token id, so each row's answer is recognizable

    async def submit_all() -> list[tuple[np.ndarray, np.ndarray]]:
        batcher = Batcher(run, max_batch_size=16, max_delay_ms=20, max_queue_rows=64, merge=transformer.merge)
        parts = [transformer.encode(texts, pad_to_longest=True) for texts in TEXTS]
        answers = await asyncio.gather(*(batcher.submit(p, len(t)) for p, t in zip(parts, TEXTS, strict=True)))
        await batcher.close()
        return answers

    answers = asyncio.run(submit_all())
    assert len(calls) == 1  # without the merge, rows of different widths would not stack: one call per request
    widths = {texts[0]: transformer.encode(texts, pad_to_longest=True)["token_ids"].shape[1] for texts in TEXTS}
    assert calls[0]["token_ids"].shape == (4, max(widths.values()))
    assert [len(probabilities) for probabilities, _ in answers] == [1, 1, 2]

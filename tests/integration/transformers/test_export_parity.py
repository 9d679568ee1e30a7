"""A saved KerasHub TextClassifier exported to (ONNX logits graph, tokenizer spec) answers as Keras does.

Probabilities: sigmoid of the ONNX logits over the serve-time step's inputs, against sigmoid(task.predict(texts)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from model_export.demos.kerashub_tasks import CORPUS, FAMILIES, preprocessor
from model_export.errors import ExportError
from model_export.keras.kerashub import export_kerashub_task
from tests.support.tricky_texts import TRICKY_TEXTS

TOLERANCE = 1e-5
# Batch-mates of very different lengths: padding to the longest text of a batch must not change any answer.
MIXED_LENGTHS = ["", "a", "the quick brown fox " * 20, "日本", "emoji 🤖 " * 3, "x"]


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values.astype(np.float64)))


def onnx_logits(exported: Callable[[str], Any], family: str, texts: list[str], pad_to_longest: bool) -> np.ndarray:
    session, step = exported(family)
    return session.run(["logits"], step.encode(texts, pad_to_longest=pad_to_longest))[0]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_probabilities_match_keras(family: str, saved_task: Callable[[str], Any], exported: Any) -> None:
    texts = [*CORPUS, *TRICKY_TEXTS, *MIXED_LENGTHS]
    expected = sigmoid(saved_task(family).predict(np.array(texts), verbose=0))
    assert np.ptp(expected, axis=0).max() > 100 * TOLERANCE  # the model's answers depend on the text
    for pad_to_longest in (False, True):
        actual = sigmoid(onnx_logits(exported, family, texts, pad_to_longest))
        assert np.abs(actual - expected).max() < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_padding_to_the_longest_text_keeps_every_answer(family: str, exported: Any) -> None:
    full = onnx_logits(exported, family, MIXED_LENGTHS, pad_to_longest=False)
    longest = onnx_logits(exported, family, MIXED_LENGTHS, pad_to_longest=True)
    alone = np.concatenate([onnx_logits(exported, family, [text], pad_to_longest=True) for text in MIXED_LENGTHS])
    assert np.abs(longest - full).max() < TOLERANCE
    assert np.abs(alone - full).max() < TOLERANCE


def test_distil_bert_exports_with_its_inputs(exported: Any) -> None:
    """The fast representative: DistilBERT (no segment_ids), logits over token ids, the spec naming its feeds."""
    session, step = exported("distil_bert")
    assert sorted(value.name for value in session.get_inputs()) == sorted(step.spec.onnx_inputs)
    assert step.spec.onnx_inputs == ("token_ids", "padding_mask") and step.spec.keras_tokenizer == "DistilBertTokenizer"
    logits = session.run(["logits"], step.encode(["", "the quick brown fox"], pad_to_longest=True))[0]
    assert logits.shape == (2, 4) and np.isfinite(logits).all()


class CustomTokenizer:
    """Stands for any subclass: made in the test so that Keras never registers it."""


def task_with(saved_task: Callable[[str], Any], family: str, **tokenizer_options: Any) -> Any:
    task = saved_task(family)
    clone = type(task).from_config(task.get_config())
    tokenizer_sequence_length = tokenizer_options.pop("tokenizer_sequence_length", None)
    clone.preprocessor = preprocessor(family, sequence_length=16, **tokenizer_options)
    clone.preprocessor.tokenizer.sequence_length = tokenizer_sequence_length
    return clone


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"special_tokens_in_strings": True}, "special_tokens_in_strings=True, not reproduced"),
        ({"tokenizer_sequence_length": 8}, "has sequence_length set"),
        ({"split": False}, "has split=False"),
    ],
)
def test_refusals_name_the_option(saved_task: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportError, match=message) as caught:
        export_kerashub_task(task_with(saved_task, "distil_bert", **dict(options)))
    assert "\n" not in str(caught.value)


def test_refuses_a_subclassed_tokenizer_and_no_preprocessor(saved_task: Any) -> None:
    import keras_hub

    class LoudTokenizer(keras_hub.models.DistilBertTokenizer):
        pass

    task = task_with(saved_task, "distil_bert")
    tokenizer = task.preprocessor.tokenizer
    task.preprocessor.tokenizer = LoudTokenizer(vocabulary=tokenizer.get_vocabulary(), lowercase=True)
    with pytest.raises(ExportError, match="holds a LoudTokenizer; only KerasHub's own DistilBertTokenizer"):
        export_kerashub_task(task)
    task.preprocessor = None
    with pytest.raises(ExportError, match="the task has no preprocessor"):
        export_kerashub_task(task)


def test_refuses_a_vocabulary_larger_than_the_embedding(saved_task: Any) -> None:
    task = task_with(
        saved_task,
        "distil_bert",
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] * 1 + [f"w{i}" for i in range(5000)],
    )
    with pytest.raises(ExportError, match="larger ids would index past the embedding table"):
        export_kerashub_task(task)

"""What cannot be reproduced without TensorFlow is refused in one line naming it, before anything is converted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from model_export.demos.kerashub_tasks import preprocessor
from model_export.errors import ExportError
from model_export.keras.kerashub import export_kerashub_task


def task_with(untrained_task: Callable[[str], Any], family: str, **tokenizer_options: Any) -> Any:
    task = untrained_task(family)
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
def test_refusals_name_the_option(untrained_task: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportError, match=message) as caught:
        export_kerashub_task(task_with(untrained_task, "distil_bert", **dict(options)))
    assert "\n" not in str(caught.value)


def test_refuses_a_subclassed_tokenizer_and_no_preprocessor(untrained_task: Any) -> None:
    import keras_hub

    class LoudTokenizer(keras_hub.models.DistilBertTokenizer):
        pass

    task = task_with(untrained_task, "distil_bert")
    tokenizer = task.preprocessor.tokenizer
    task.preprocessor.tokenizer = LoudTokenizer(vocabulary=tokenizer.get_vocabulary(), lowercase=True)
    with pytest.raises(ExportError, match="holds a LoudTokenizer; only KerasHub's own DistilBertTokenizer"):
        export_kerashub_task(task)
    task.preprocessor = None
    with pytest.raises(ExportError, match="has no preprocessor: served from raw strings"):
        export_kerashub_task(task)


def test_refuses_a_vocabulary_larger_than_the_embedding(untrained_task: Any) -> None:
    task = task_with(
        untrained_task,
        "distil_bert",
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] * 1 + [f"w{i}" for i in range(5000)],
    )
    with pytest.raises(ExportError, match="larger ids would index past the embedding table"):
        export_kerashub_task(task)

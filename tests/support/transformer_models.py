"""KerasHub text classifiers built offline, saved, exported and answered by Keras once per test run (build_once):
one tiny task per family (BERT, DistilBERT, RoBERTa, ALBERT) and a BERT task with a sigmoid head, each exported
through the CLI's own entry point in this process (the arguments and printed lines of `python -m model_export`,
without a TensorFlow start-up per model; the command line itself runs in its own processes in other tests).

What the tests compare with is Keras's own answer, sigmoid(task.predict(texts)), computed here from the task that was
saved, on texts whose lengths differ widely (batch-mates of an empty text and of one past sequence_length).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.tricky_texts import TRICKY_TEXTS

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("bert", "distil_bert", "roberta", "albert")
LABELS = ("a", "b", "c", "d")
SEQUENCE_LENGTH = 32
# Very different lengths side by side: empty, one character, one past sequence_length, CJK, emoji.
MIXED_LENGTHS = ("", "a", "the quick brown fox " * 20, "日本", "emoji 🤖 " * 3, "x")
PROBE_TEXTS = (*MIXED_LENGTHS, *TRICKY_TEXTS[:24], "tokenizers split text into words and words into pieces")


@dataclass(frozen=True)
class BuiltTransformers:
    repository: Path  # FAMILY/1/model.onnx for each family, and bert_sigmoid/1/model.onnx
    sources: dict[str, Path]  # the saved .keras files
    cli_stdout: dict[str, str]  # what `python -m model_export NAME.keras ...` printed, per model name
    keras_probabilities: dict[str, np.ndarray]  # sigmoid(task.predict(PROBE_TEXTS)), per model name


def cli_environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def export_command(source: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "model_export", str(source), "-o", str(output), "--labels", ",".join(LABELS)]


def build_transformers(folder: Path) -> BuiltTransformers:
    """Train, save, answer in Keras and export each task."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from model_export.cli import main
    from model_export.demos.kerashub_tasks import build_task
    from model_export.parity.compare import sigmoid

    repository, sources, answers, printed = folder / "repository", {}, {}, {}
    for name, family, activation in [(f, f, None) for f in FAMILIES] + [("bert_sigmoid", "bert", "sigmoid")]:
        task = build_task(family, labels=len(LABELS), sequence_length=SEQUENCE_LENGTH, activation=activation)
        sources[name] = folder / f"{name}.keras"
        task.save(sources[name])
        output = np.asarray(task.predict(np.array(PROBE_TEXTS), verbose=0), np.float64)
        answers[name] = output if activation == "sigmoid" else sigmoid(output)
        stdout, errors = io.StringIO(), io.StringIO()
        command = export_command(sources[name], repository / name / "1" / "model.onnx")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(errors):
            status = main(command[3:])
        if status != 0:
            raise AssertionError(f"python -m model_export {name}.keras failed ({status}): {errors.getvalue()[-2000:]}")
        printed[name] = stdout.getvalue()
    return BuiltTransformers(repository, sources, printed, answers)

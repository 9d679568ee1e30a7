"""A saved KerasHub TextClassifier task through the exporter as a user runs it: `python -m model_export task.keras
-o repo/NAME/1/model.onnx --labels ...` writes the backbone and head with the appended Sigmoid and the tokenizer step
in the metadata, proven from raw strings; the issue's failures (BERT's segment_ids Gather out of bounds, DistilBERT
and RoBERTa written without their tokenizer) are what these tests check; and the other commands read such a file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from model_export.describe import describe_model
from model_export.errors import ExportError
from service.contract.metadata import HEAD, HEAD_APPENDED_SIGMOID, HEAD_LOGITS_RECOVERED, TEXT_TRANSFORMER
from service.contract.model_file import TEXT, read_session
from service.contract.text.transformer_step import transformer_step_from_metadata
from tests.support.transformer_models import FAMILIES, LABELS, PROBE_TEXTS, ROOT, BuiltTransformers, cli_environment

TOLERANCE = 1e-5
TOKENIZERS = {
    "bert": "BertTokenizer",
    "distil_bert": "DistilBertTokenizer",
    "roberta": "RobertaTokenizer",
    "albert": "AlbertTokenizer",
}


def session_of(built: BuiltTransformers, name: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(built.repository / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])


def test_bert_exports_through_the_cli(built_transformers: BuiltTransformers) -> None:
    """The issue's BERT case ended in an ONNX Runtime traceback (random integers fed to segment_ids). The command
    line in its own process is run by test_inspect_verify_calibrate_optimize."""
    out = built_transformers.cli_stdout["bert"]
    assert "head      appended_sigmoid" in out
    assert "inputs    text" in out
    assert "text      text (text) -> BertTokenizer (wordpiece), sequence_length 32" in out
    assert "padding_mask, segment_ids, token_ids [batch, tokens]" in out
    assert "parity    " in out and "(bound 1e-05)" in out


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_written_with_its_tokenizer(built_transformers: BuiltTransformers, family: str) -> None:
    """DistilBERT and RoBERTa were written without their tokenizer: the served model took token ids."""
    session = session_of(built_transformers, family)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata[TEXT_TRANSFORMER])["step"]["keras_tokenizer"] == TOKENIZERS[family]
    assert metadata[HEAD] == HEAD_APPENDED_SIGMOID
    contents = read_session(session)
    assert [(spec.name, spec.dtype) for spec in contents.inputs] == [("text", TEXT)]


@pytest.mark.parametrize("name", [*FAMILIES, "bert_sigmoid"])
def test_probabilities_within_tolerance_of_keras(built_transformers: BuiltTransformers, name: str) -> None:
    """sigmoid(task.predict(strings)) against the served path: the recorded step, each batch padded to its longest
    text, then ONNX Runtime; texts from empty to past sequence_length side by side."""
    session = session_of(built_transformers, name)
    step = transformer_step_from_metadata(session.get_modelmeta().custom_metadata_map)
    expected = built_transformers.keras_probabilities[name]
    assert np.ptp(expected, axis=0).max() > 100 * TOLERANCE  # the answers depend on the text
    for size in (len(PROBE_TEXTS), 7, 1):
        parts = [
            session.run(["probabilities"], step.encode(PROBE_TEXTS[i : i + size], pad_to_longest=True))[0]
            for i in range(0, len(PROBE_TEXTS), size)
        ]
        assert np.abs(np.concatenate(parts) - expected).max() < TOLERANCE


def test_a_sigmoid_head_has_its_logits_recovered(built_transformers: BuiltTransformers) -> None:
    metadata = session_of(built_transformers, "bert_sigmoid").get_modelmeta().custom_metadata_map
    assert metadata[HEAD] == HEAD_LOGITS_RECOVERED


def test_refusals_are_one_line_and_write_nothing(built_transformers: BuiltTransformers, tmp_path: Path) -> None:
    import keras

    from model_export.demos.kerashub_tasks import build_task
    from model_export.export import export_model

    softmax = build_task("distil_bert", train_steps=0, activation="softmax")
    softmax.save(tmp_path / "softmax.keras")
    task = keras.saving.load_model(built_transformers.sources["distil_bert"])
    task.preprocessor = None
    task.save(tmp_path / "no_preprocessor.keras")
    cases = {"softmax": "ends in a softmax", "no_preprocessor": "has no preprocessor: served from raw strings"}
    for name, message in cases.items():
        output = tmp_path / name / "1" / "model.onnx"
        with pytest.raises(ExportError, match=message) as caught:
            export_model(tmp_path / f"{name}.keras", output, list(LABELS))
        assert "\n" not in str(caught.value) and not output.exists()
    options = {
        "input_renames": ({"text": "body"}, "--input-name"),
        "drop_labels": ([LABELS[0]], "--drop-label"),
        "refuse_empty_texts": (True, "--refuse-empty-texts"),
    }
    source = built_transformers.sources["distil_bert"]
    for option, (value, flag) in options.items():
        output = tmp_path / option / "1" / "model.onnx"
        with pytest.raises(ExportError, match=f"^{flag} cannot be used with a KerasHub task yet") as caught:
            export_model(source, output, list(LABELS), **{option: value})
        assert "\n" not in str(caught.value) and not output.exists()


def run_cli(*args: str) -> str:
    command = [sys.executable, "-m", "model_export", *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=cli_environment())
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_inspect_verify_calibrate_optimize(built_transformers: BuiltTransformers, tmp_path: Path) -> None:
    from model_export.parity.verify_command import verify_exported

    model = built_transformers.repository / "roberta" / "1" / "model.onnx"
    assert describe_model(model)["tokenizer"]["keras_tokenizer"] == "RobertaTokenizer"
    assert "text input  text -> RobertaTokenizer (byte_bpe)" in run_cli("inspect", str(model))
    outcome = verify_exported(model, built_transformers.sources["roberta"])
    assert outcome.passed, outcome.failure
    data = tmp_path / "val.jsonl"
    rows = [{"text": text, "labels": [LABELS[i % 4]]} for i, text in enumerate(PROBE_TEXTS * 3)]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    calibrated = tmp_path / "calibrated.onnx"
    assert "wrote" in run_cli("calibrate", str(model), "--data", str(data), "-o", str(calibrated))
    from model_export.optimize.optimize_command import optimize_model

    optimized = tmp_path / "graph.onnx"
    result = optimize_model(calibrated, data, optimized, variant="graph-only", force=True, seconds_per_batch=0.02)
    assert result.written and result.chosen.table.rows == len(rows)
    assert transformer_step_from_metadata(ort.InferenceSession(str(optimized)).get_modelmeta().custom_metadata_map)

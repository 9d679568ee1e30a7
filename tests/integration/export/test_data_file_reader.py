"""export, verify, calibrate and optimize read the same data files (.jsonl, .csv, .npz) with one reader (issue 22).

`optimize` used to take only .npz: given the .jsonl that `calibrate` and `publish` accept, it failed with numpy's
"pickled (object) data ... allow_pickle" message, for a text model and a numeric one alike; so did `verify` and the
export's --sample-data for a numeric model.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import ExportError, export_model, read_metadata
from model_export.demos.digits import LABELS as DIGIT_LABELS
from model_export.demos.digits import write_validation as write_digits_validation
from model_export.demos.docstrings import write_validation as write_docstrings_validation
from model_export.demos.docstrings_corpus import LABELS as DOCSTRING_LABELS
from model_export.optimize.optimize_command import optimize_model
from model_export.parity.verify_command import verify_exported
from service.contract.text.keras_layers import text_steps_from_metadata
from tests.support.server import DEMO_REPOSITORY
from tests.support.text_models import CONFIGS_BY_NAME, CORPUS, train
from tests.support.text_models import LABELS as TOY_LABELS

MODELS = DEMO_REPOSITORY
DOCSTRINGS = MODELS / "docstrings" / "1" / "model.onnx"
DIGITS = MODELS / "digits" / "1" / "model.onnx"


def optimize(model: Path, data: Path, output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "model_export", "optimize", str(model), "--data", str(data), "-o", str(output)]
    # graph-only: the demos' only matrix product is their output layer, which int8 leaves alone.
    command += ["--graph-only", "--min-speedup", "0", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def numeric_jsonl(path: Path, name: str, features: np.ndarray, truth: np.ndarray) -> Path:
    """The rows of an .npz as JSONL: the input as a list of numbers, the labels multi-hot."""
    lines = [
        json.dumps({name: row.tolist(), "labels": labels.tolist()}) for row, labels in zip(features, truth, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def check_written(completed: subprocess.CompletedProcess[str], source: Path, output: Path, labels: list[str]) -> None:
    assert completed.returncode == 0, completed.stderr
    assert "allow_pickle" not in completed.stderr
    assert "per label (float32 at its thresholds" in completed.stdout
    for label in labels:
        assert f"\n{label} " in completed.stdout, completed.stdout
    assert read_metadata(output).labels == read_metadata(source).labels
    entry = json.loads(read_metadata(output).props["optimization"])
    assert entry["variant"] == "graph-only" and set(entry["labels"]) == set(labels)


def test_a_text_model_is_optimized_from_the_jsonl_calibrate_reads(tmp_path: Path) -> None:
    data = tmp_path / "val.jsonl"
    rows = write_docstrings_validation(data)
    output = tmp_path / "optimized.onnx"
    completed = optimize(DOCSTRINGS, data, output)
    check_written(completed, DOCSTRINGS, output, DOCSTRING_LABELS)
    assert f"({rows} rows)" in completed.stdout
    steps = text_steps_from_metadata({p.key: p.value for p in onnx.load(str(output)).metadata_props})
    assert [step.name for step in steps] == ["text"]  # the text step travels with the optimized model


def test_a_text_model_is_optimized_from_csv(tmp_path: Path) -> None:
    write_docstrings_validation(tmp_path / "val.jsonl")
    records = [json.loads(line) for line in (tmp_path / "val.jsonl").read_text().splitlines()]
    data = tmp_path / "val.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        writer.writerows([record["text"], "|".join(record["labels"])] for record in records)
    output = tmp_path / "optimized.onnx"
    check_written(optimize(DOCSTRINGS, data, output), DOCSTRINGS, output, DOCSTRING_LABELS)


def test_a_numeric_model_is_optimized_from_jsonl(tmp_path: Path) -> None:
    npz = tmp_path / "val.npz"
    write_digits_validation(npz)
    with np.load(npz) as archive:
        pixels, y = archive["pixels"], archive["y"]
    data = numeric_jsonl(tmp_path / "val.jsonl", "pixels", pixels, y)
    output = tmp_path / "optimized.onnx"
    check_written(optimize(DIGITS, data, output), DIGITS, output, DIGIT_LABELS)


def test_texts_of_their_own_length_are_refused_in_one_line(tmp_path: Path) -> None:
    source = train(CONFIGS_BY_NAME["variable_length"], tmp_path)
    model = tmp_path / "variable" / "1" / "model.onnx"
    export_model(source, model, TOY_LABELS)
    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps({"text": text, "labels": []}) + "\n" for text in CORPUS))
    with pytest.raises(ExportError, match="gives each text its own number of token ids .* set output_sequence_length"):
        optimize_model(model, data, tmp_path / "never.onnx", variant="graph-only")
    assert not (tmp_path / "never.onnx").exists()


def test_verify_and_export_read_a_numeric_model_s_jsonl_as_its_npz(model_files, tmp_path: Path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype(np.float32), rng.integers(0, 2, size=(40, 3))
    npz, jsonl = tmp_path / "rows.npz", tmp_path / "rows.jsonl"
    np.savez(npz, features=x, y=y)
    numeric_jsonl(jsonl, "features", x, y)
    source = model_files("mlp.keras")
    reports = [
        export_model(source, tmp_path / f"{data.stem}.onnx", ["a", "b", "c"], sample_data=data) for data in (npz, jsonl)
    ]
    assert reports[0].batch_sizes == reports[1].batch_sizes == [1, 40]
    rates = [json.loads(report.metadata["reference_rates"]) for report in reports]
    assert rates[0]["positive_rates"] == rates[1]["positive_rates"] and rates[1]["rows"] == 40
    outcome = verify_exported(tmp_path / "rows.onnx", source, jsonl)
    assert outcome.passed and outcome.report.batch_sizes == [1, 40], outcome.failure


def test_a_file_named_npz_that_is_not_one_is_said_so(tmp_path: Path) -> None:
    data = tmp_path / "val.npz"
    data.write_text("text, labels\n")
    with pytest.raises(ExportError, match=r"^val.npz is not an .npz archive") as refused:
        optimize_model(DIGITS, data, tmp_path / "never.onnx", variant="graph-only")
    assert "pickle" not in str(refused.value)

"""calibrate and verify on raw text: JSONL and CSV rows, labels as names or multi-hot, through the text steps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import onnx
import pytest

from model_export import ExportError, export_model
from model_export.calibration.calibrate_command import calibrate_model
from model_export.demos.docstrings import write_validation
from model_export.demos.docstrings_corpus import LABELS
from model_export.parity.verify_command import verify_exported
from service.contract.text.keras_layers import text_steps_from_metadata
from tests.support.server import DEMO_REPOSITORY
from tests.support.text_models import CONFIGS_BY_NAME, CORPUS, train
from tests.support.text_models import LABELS as TOY_LABELS

PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
DEMO = DEMO_REPOSITORY / "docstrings" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    path = tmp_path_factory.mktemp("docstrings") / "val.jsonl"
    write_validation(path)
    return [json.loads(line) for line in path.read_text().splitlines()]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_jsonl_names_multi_hot_and_csv_give_the_same_thresholds(validation, tmp_path):
    names = _jsonl(tmp_path / "names.jsonl", validation)
    hot = [{"text": r["text"], "labels": [int(x in r["labels"]) for x in LABELS]} for r in validation]
    multi_hot = _jsonl(tmp_path / "hot.jsonl", hot)
    joined = _csv(tmp_path / "joined.csv", ["text", "labels"], [[r["text"], "|".join(r["labels"])] for r in validation])
    results = [calibrate_model(DEMO, data, tmp_path / f"{data.stem}.onnx") for data in (names, multi_hot, joined)]
    assert [r.rows for r in results] == [len(validation)] * 3 and results[0].skipped_rows == 0
    assert [r.thresholds for r in results[1:]] == [results[0].thresholds] * 2
    assert results[0].thresholds != [0.5] * len(LABELS)  # F1 moved at least one
    calibrated = {p.key: p.value for p in onnx.load(str(tmp_path / "names.onnx")).metadata_props}
    assert text_steps_from_metadata(calibrated)  # the text steps travel with the new thresholds


def test_csv_label_column_named_like_an_input_is_refused(validation, tmp_path):
    rows = [[r["text"], *(int(x in r["labels"]) for x in LABELS)] for r in validation]
    data = _csv(tmp_path / "columns.csv", ["text", *LABELS], rows)  # the demo has a label called "text"
    with pytest.raises(ExportError, match=r"column\(s\) \['text'\] appear twice"):
        calibrate_model(DEMO, data, tmp_path / "out.onnx")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "x", "labels": ["files", "cooking"]}, "unknown label(s) ['cooking']"),
        ({"text": "x", "labels": [1, 0]}, "label names or 7 values of 0/1"),
        ({"text": 3, "labels": []}, "'text' must be text"),
        ({"body": "x", "labels": []}, "has no field 'text'"),
        ({"text": "x"}, "has no 'labels' field"),
    ],
)
def test_bad_rows_are_named(tmp_path, record, message):
    data = _jsonl(tmp_path / "bad.jsonl", [{"text": "open a file", "labels": ["files"]}, record])
    with pytest.raises(ExportError, match="line 2") as info:
        calibrate_model(DEMO, data, tmp_path / "out.onnx")
    assert message in str(info.value) and not (tmp_path / "out.onnx").exists()


@pytest.fixture(scope="module")
def variable_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("variable")
    source = train(CONFIGS_BY_NAME["variable_length"], folder)
    output = folder / "variable" / "1" / "model.onnx"
    export_model(source, output, TOY_LABELS)
    return source, output


def test_calibrate_leaves_out_texts_without_token(variable_model, tmp_path):
    _, model = variable_model
    (step,) = text_steps_from_metadata({p.key: p.value for p in onnx.load(str(model)).metadata_props})
    truth = [[label in text.lower() for label in ("cat", "bread", "rain")] for text in CORPUS]
    records = [
        {"text": t, "labels": [x for x, on in zip(TOY_LABELS, row, strict=True) if on]}
        for t, row in zip(CORPUS, truth, strict=True)
    ]
    per_label = _csv(
        tmp_path / "corpus.csv",
        ["text", *TOY_LABELS],
        [[t, *map(int, row)] for t, row in zip(CORPUS, truth, strict=True)],
    )
    results = [
        calibrate_model(model, data, tmp_path / f"{data.stem}.onnx")
        for data in (_jsonl(tmp_path / "corpus.jsonl", records), per_label)
    ]
    without_token = sum(1 for text in CORPUS if not text.encode().lower().translate(None, PUNCTUATION).split())
    assert step.needs_token and without_token > 0
    assert results[0].skipped_rows == without_token and results[0].rows == len(CORPUS) - without_token
    assert f"left out {without_token} rows with no token after standardization" in results[0].format()
    assert results[1].thresholds == results[0].thresholds  # one 0/1 column per label reads the same


def test_verify_a_text_model_with_jsonl_data(variable_model, tmp_path):
    source, model = variable_model
    data = _jsonl(tmp_path / "extra.jsonl", [{"text": "A CAT with bread, in the rain"}, {"text": "?!"}])
    outcome = verify_exported(model, source, data)
    assert outcome.passed, outcome.failure
    assert "rows of raw text" in outcome.format()


def test_verify_fails_when_the_model_reads_text_differently(variable_model, tmp_path):
    source, _ = variable_model
    other_source = train(CONFIGS_BY_NAME["max_tokens"], tmp_path)  # another vocabulary, same interface
    other = tmp_path / "other" / "1" / "model.onnx"
    export_model(other_source, other, TOY_LABELS)
    outcome = verify_exported(other, source)
    assert not outcome.passed
    assert "text steps recorded in the model differ from the source's text layers" in outcome.failure

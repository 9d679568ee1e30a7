"""Rows from a data file, and their labels when asked: the one reader behind export's --sample-data, verify --data,
calibrate, optimize and publish, for numeric and text models alike.

JSONL: one JSON object a line, one field per model input (a model whose only input is text may call it "text"),
and "labels": the positive label names (["a", "c"]) or a multi-hot list of 0/1 in label order ([1, 0, 1]).
CSV: a header row; a column per input (or "text"), and either a "labels" column of names separated by "|", or one
0/1 column per label. A numeric input's cell is a number or a JSON list. .npz: one array per input, plus `y`.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from model_export.data.checks import check_finite_rows, check_multi_hot
from model_export.errors import ExportError, reading_problem

TEXT_FIELD = "text"
LABELS_FIELD = "labels"
CSV_LABEL_SEPARATOR = "|"
NPZ_LABELS = "y"


class Column(NamedTuple):
    """One input to read: its name, whether it takes raw text, and for numbers the dtype to read them as."""

    name: str
    is_text: bool
    dtype: str = "float32"


def read_rows(
    path: str | Path, columns: Sequence[Column], labels: Sequence[str] | None = None, *, labels_optional: bool = False
) -> tuple[dict[str, Any], np.ndarray | None]:
    """(rows by input name: a list of texts or a numeric array; multi-hot [rows, len(labels)] bool, or None).

    With `labels_optional`, a file that holds no labels gives None instead of a refusal."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return _read_npz(path, columns, labels, labels_optional)
        if suffix in (".jsonl", ".ndjson"):
            records = _read_jsonl(path)
        elif suffix == ".csv":
            records = _read_csv(path)
        else:
            raise ExportError(f"{path.name}: expected .jsonl, .csv or .npz data")
    except OSError as exc:
        raise ExportError(f"cannot read data file {path}: {reading_problem(exc)}") from None
    if not records:
        raise ExportError(f"{path.name} holds no rows")
    rows = {column.name: _column(path, records, column, len(columns)) for column in columns}
    csv_file = suffix == ".csv"
    if labels is None or (labels_optional and not _has_labels(records, labels, csv_file)):
        return rows, None
    return rows, _labels(path, records, list(labels), csv_file)


def read_sample_rows(path: str | Path, inputs: Sequence[Any]) -> dict[str, Any]:
    """Rows for a Keras source's inputs (InputSpecs: dtype "string" for raw text, else numeric); labels not read."""
    rows, _ = read_rows(path, [Column(spec.name, spec.dtype == "string", spec.dtype) for spec in inputs])
    return rows


def row_count(values: Any) -> int:
    """Rows in one column: a list of texts, or an array whose first dimension is the rows."""
    return len(values) if isinstance(values, list) else (values.shape[0] if np.ndim(values) else 0)


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ExportError(f"{path.name} line {number} is not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise ExportError(f"{path.name} line {number} is not a JSON object")
            records.append((number, record))
    return records


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:  # e.g. a label column named like an input: give the labels in one 'labels' column instead
            raise ExportError(
                f"{path.name}: column(s) {twice} appear twice in the header; if a label has an input's name, "
                f"give the labels in one '{LABELS_FIELD}' column of names separated by '{CSV_LABEL_SEPARATOR}'"
            )
        return [(reader.line_num, dict(row)) for row in reader]


def _column(path: Path, records: list, column: Column, n_inputs: int) -> Any:
    name, is_text, dtype = column
    values = []
    for number, record in records:
        key = name if name in record else (TEXT_FIELD if is_text and n_inputs == 1 else name)
        if key not in record:
            raise ExportError(f"{path.name} line {number} has no field '{name}' (fields: {sorted(record)})")
        value = record[key]
        if is_text:
            if not isinstance(value, str):
                raise ExportError(f"{path.name} line {number}: '{key}' must be text")
            values.append(value)
        else:
            values.append(_number_cell(path, number, key, value))
    if is_text:
        return values
    try:
        array = np.asarray(values, dtype=dtype)
    except (ValueError, TypeError):
        raise ExportError(
            f"{path.name}: input '{name}' is not one array of numbers (every row needs the same length)"
        ) from None
    check_finite_rows(array, f"{path.name}, input '{name}'", [f"line {number}" for number, _ in records])
    return array


def _number_cell(path: Path, number: int, key: str, value: Any) -> Any:
    if isinstance(value, str):  # CSV: a number or a JSON list in the cell
        try:
            value = json.loads(value)
        except ValueError:
            raise ExportError(f"{path.name} line {number}: '{key}' must be a number or a JSON list") from None
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise ExportError(f"{path.name} line {number}: '{key}' must be a number or a list of numbers")
    return value


def _has_labels(records: list, labels: Sequence[str], csv_file: bool) -> bool:
    fields = records[0][1]
    return LABELS_FIELD in fields or (csv_file and all(label in fields for label in labels))


def _labels(path: Path, records: list, labels: list[str], csv_file: bool) -> np.ndarray:
    truth = np.zeros((len(records), len(labels)), bool)
    per_label_columns = csv_file and LABELS_FIELD not in records[0][1]
    for row, (number, record) in enumerate(records):
        if per_label_columns:
            missing = [label for label in labels if label not in record]
            if missing:
                raise ExportError(
                    f"{path.name}: no '{LABELS_FIELD}' column and no column for label(s) {missing}; give one "
                    f"0/1 column per label or a '{LABELS_FIELD}' column of names separated by '{CSV_LABEL_SEPARATOR}'"
                )
            cells = [str(record[label]).strip() for label in labels]
            if any(cell not in ("0", "1") for cell in cells):
                raise ExportError(f"{path.name} line {number}: label columns must hold 0 or 1")
            truth[row] = [cell == "1" for cell in cells]
            continue
        if LABELS_FIELD not in record:
            raise ExportError(f"{path.name} line {number} has no '{LABELS_FIELD}' field")
        value = record[LABELS_FIELD]
        if csv_file:
            value = [name for name in str(value).split(CSV_LABEL_SEPARATOR) if name]
        truth[row] = _label_row(path, number, value, labels)
    return truth


def _label_row(path: Path, number: int, value: Any, labels: list[str]) -> list[bool]:
    if not isinstance(value, list):
        raise ExportError(f"{path.name} line {number}: '{LABELS_FIELD}' must be a list")
    if all(isinstance(v, str) for v in value):  # names (an empty list: no label)
        unknown = sorted(set(value) - set(labels))
        if unknown:
            raise ExportError(f"{path.name} line {number}: unknown label(s) {unknown}; labels are {labels}")
        return [label in value for label in labels]
    if len(value) != len(labels) or any(isinstance(v, bool) or v not in (0, 1) for v in value):
        raise ExportError(
            f"{path.name} line {number}: '{LABELS_FIELD}' must be label names or {len(labels)} values of 0/1"
        )
    return [v == 1 for v in value]


def _read_npz(path: Path, columns: Sequence[Column], labels: Sequence[str] | None, labels_optional: bool):
    arrays = _npz_arrays(path)
    with_labels = labels is not None and (NPZ_LABELS in arrays or not labels_optional)
    names = [column.name for column in columns]
    missing = [name for name in [*names, *([NPZ_LABELS] if with_labels else [])] if name not in arrays]
    if missing:
        needs = f"one per input {names}" + (
            f" plus '{NPZ_LABELS}' (multi-hot [rows, {len(labels)}])" if with_labels else ""
        )
        raise ExportError(f"{path.name} lacks array(s) {missing}; it needs {needs}; it has {sorted(arrays)}")
    truth = None
    if with_labels:
        truth = check_multi_hot(arrays[NPZ_LABELS], len(labels), f"'{NPZ_LABELS}' in {path.name}")
    rows = {column.name: _npz_column(path, column, arrays[column.name]) for column in columns}
    counts = {name: row_count(values) for name, values in rows.items()}
    if truth is not None:
        counts[NPZ_LABELS] = truth.shape[0]
    if len(set(counts.values())) > 1 or 0 in counts.values():
        shown = ", ".join(f"{count} in '{name}'" for name, count in counts.items())
        raise ExportError(f"arrays in {path.name} must share one non-empty row count, got {shown}")
    return rows, truth


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path)
    except OSError as exc:
        raise ExportError(f"cannot read data file {path}: {reading_problem(exc)}") from None
    except (ValueError, zipfile.BadZipFile):  # numpy's words for it speak of pickles
        archive = None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ExportError(f"{path.name} is not an .npz archive (one array per input, as numpy.savez writes)")
    try:
        with archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ExportError(f"cannot read data file {path}: {reading_problem(exc)}") from None


def _npz_column(path: Path, column: Column, array: np.ndarray) -> Any:
    array = np.asarray(array)
    if column.is_text:
        return [str(text) for text in array.reshape(-1)]
    if array.dtype.kind not in "iufb":
        raise ExportError(f"array '{column.name}' in {path.name} must hold numbers")
    check_finite_rows(array, f"array '{column.name}' in {path.name}")
    return array.astype(column.dtype)

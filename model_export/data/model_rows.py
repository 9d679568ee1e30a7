"""Validation rows from an .npz (one array per model input, plus `y` multi-hot), checked against the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_export.data.checks import check_finite_rows, check_multi_hot
from model_export.errors import ExportError, reading_problem

TARGET_KEY = "y"
ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


def load_labelled(path: Path, session, n_labels: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs for `session` and the multi-hot truth `y` [rows, n_labels] as booleans."""
    arrays = _read(path)
    if TARGET_KEY not in arrays:
        names = [i.name for i in session.get_inputs()]
        raise ExportError(
            f"{path.name} lacks array(s) {[n for n in [*names, TARGET_KEY] if n not in arrays]}; it needs one per "
            f"model input {names} plus '{TARGET_KEY}' (multi-hot [rows, {n_labels}]); it has {sorted(arrays)}"
        )
    truth = check_multi_hot(arrays[TARGET_KEY], n_labels, f"'{TARGET_KEY}' in {path.name}")
    inputs = _inputs(path, arrays, session)
    rows = {name: array.shape[0] for name, array in inputs.items()} | {TARGET_KEY: truth.shape[0]}
    if len(set(rows.values())) != 1 or truth.shape[0] == 0:
        raise ExportError(f"arrays in {path.name} must share one non-empty row count, got {_counts(rows)}")
    return inputs, truth


def load_inputs(path: Path, session) -> dict[str, np.ndarray]:
    """Inputs for `session` only (a `y` array, if any, is ignored): e.g. rows for int8 calibration."""
    inputs = _inputs(path, _read(path), session)
    rows = {name: array.shape[0] for name, array in inputs.items()}
    if len(set(rows.values())) != 1 or 0 in rows.values():
        raise ExportError(f"arrays in {path.name} must share one non-empty row count, got {_counts(rows)}")
    return inputs


def _counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{count} in '{name}'" for name, count in rows.items())


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read data file {path}: {reading_problem(exc)}") from None


def _inputs(path: Path, arrays: dict[str, np.ndarray], session) -> dict[str, np.ndarray]:
    names = [i.name for i in session.get_inputs()]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ExportError(
            f"{path.name} lacks array(s) {missing}; it needs one per model input {names}; it has {sorted(arrays)}"
        )
    inputs = {}
    for node in session.get_inputs():
        dtype = ORT_DTYPES.get(node.type)
        if dtype is None:
            raise ExportError(f"model input {node.name!r} has type {node.type}, which cannot be fed from {path.name}")
        array = np.asarray(arrays[node.name])
        expected = ["rows", *(d if isinstance(d, int) and d > 0 else "any" for d in node.shape[1:])]
        if array.ndim != len(node.shape) or any(
            want != "any" and got != want for got, want in zip(array.shape[1:], expected[1:], strict=True)
        ):
            raise ExportError(
                f"array {node.name!r} in {path.name} has shape {list(array.shape)}; the model takes {expected}"
            )
        if array.dtype.kind not in "iufb":
            raise ExportError(f"array '{node.name}' in {path.name} must hold numbers")
        check_finite_rows(array, f"array '{node.name}' in {path.name}")
        inputs[node.name] = array.astype(dtype)
    return inputs

"""Checks on labelled rows before they choose thresholds or judge a model: labels that are 0/1, features that are
numbers. Each refusal names the rows, so the fix is a look at the file away.

A NaN feature gives a NaN probability, which is positive at no threshold and counts as a miss for every label:
used silently, it skews every threshold a little. So rows with NaN or infinite features are refused, not skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_export.errors import ExportError

_LISTED = 8  # row numbers named in a message; the rest are counted


def check_multi_hot(y: np.ndarray, n_labels: int, where: str, row_names: Sequence[str] | None = None) -> np.ndarray:
    """`y` as booleans [rows, n_labels], or one line on what it holds instead."""
    y = np.asarray(y)
    expected = f"multi-hot 0/1 of shape [rows, {n_labels}], one column per label"
    if y.dtype.kind in "USO" and not _all_numbers(y):
        sample = next(str(v) for v in y.reshape(-1) if not _is_number(v))
        raise ExportError(f'{where} holds text (such as "{sample}"), not numbers: it must be {expected}')
    if y.ndim != 2 or y.shape[1] != n_labels:
        shape = ", ".join(map(str, y.shape))
        raise ExportError(f"{where} has shape [{shape}]: it must be {expected}")
    values = y.astype(np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        found = sorted({_number_text(v) for v in values[bad]})[:5]
        raise ExportError(
            f"{where} must hold only 0 and 1 (one column per label); it also holds {', '.join(found)} "
            f"in {name_rows(rows, row_names)}"
        )
    return values.astype(bool)


def check_finite_rows(array: np.ndarray, where: str, row_names: Sequence[str] | None = None) -> None:
    """Refuse rows holding NaN or an infinity, naming them (or saying it is every row)."""
    array = np.asarray(array)
    if array.dtype.kind not in "fc" or array.size == 0:
        return
    bad_rows = np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1))
    if bad_rows.size == 0:
        return
    if bad_rows.size == array.shape[0]:
        raise ExportError(f"{where}: every row holds NaN or infinite values; the model cannot score them")
    raise ExportError(
        f"{where}: NaN or infinite values in {name_rows(bad_rows, row_names)}; remove or fill those rows (a NaN "
        "feature gives a NaN probability, which would count as a miss for every label)"
    )


def check_finite_probabilities(probabilities: np.ndarray, where: str, row_names: Sequence[str] | None = None) -> None:
    """Finite features can still overflow inside a model: such rows have no probability to choose a threshold on."""
    bad_rows = np.flatnonzero(~np.isfinite(probabilities).all(axis=1))
    if bad_rows.size:
        raise ExportError(f"the model gives NaN probabilities for {name_rows(bad_rows, row_names)} of {where}")


def name_rows(rows: np.ndarray, row_names: Sequence[str] | None = None) -> str:
    """'rows 3, 7 and 9 (counting from 0)', or by the caller's names for them ('lines 4, 8')."""
    listed = [row_names[i] if row_names else str(int(i)) for i in rows[:_LISTED]]
    more = f" and {len(rows) - _LISTED} more" if len(rows) > _LISTED else ""
    if row_names:
        return f"{', '.join(listed)}{more}"
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {', '.join(listed)}{more} (counting from 0)"


def _is_number(value: object) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _all_numbers(y: np.ndarray) -> bool:
    return all(_is_number(v) for v in y.reshape(-1))


def _number_text(value: float) -> str:
    return "NaN" if np.isnan(value) else f"{value:g}"

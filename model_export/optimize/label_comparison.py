"""The per-label proof of an optimized model: every label's scores before and after, and how far answers moved.

"Before" is the float32 model at its stored thresholds; "after" is the new model at its thresholds, re-chosen on
the same rows with the method the float32 model's were chosen with (recorded by `calibrate`), or kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_export.calibration.table import format_table
from model_export.calibration.threshold_choice import (
    METHOD_KEPT,
    Curve,
    LabelCalibration,
    LabelRow,
    Target,
    calibrate_label,
    curve,
    scores_at,
    stored_value,
)


@dataclass(frozen=True)
class LabelComparison(LabelRow):
    """before: the float32 model at threshold_before; after: the new model at its threshold (kept or re-chosen)."""

    curve_before: Curve
    choice: LabelCalibration  # the new model's threshold choice (its curve, before/after on the new model)
    note: str | None = None

    @property
    def f1_drop(self) -> float:
        return self.before.f1 - self.after.f1

    def as_dict(self) -> dict:
        entry = {
            "method": self.method,
            "threshold_before": self.threshold_before,
            "threshold": self.threshold,
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "f1_drop": round(self.f1_drop, 6),
        }
        return entry | ({"note": self.note} if self.note else {})


@dataclass(frozen=True)
class LabelTable:
    labels: list[LabelComparison]
    rows: int
    max_abs_deviation: float  # of probabilities, new vs float32
    mean_abs_deviation: float
    changed_rows: int  # rows whose multi-hot answer (at each model's thresholds) differs

    @property
    def worst_f1_drop(self) -> float:
        return max(c.f1_drop for c in self.labels)

    def failing(self, max_f1_drop: float) -> list[str]:
        """Labels whose F1 dropped by more than `max_f1_drop`."""
        return [c.label for c in self.labels if c.f1_drop > max_f1_drop + 1e-12]

    def deviation(self) -> dict[str, float | int]:
        return {
            "max_abs": float(f"{self.max_abs_deviation:.3g}"),
            "mean_abs": float(f"{self.mean_abs_deviation:.3g}"),
            "changed_rows": self.changed_rows,
            "changed_fraction": round(self.changed_rows / self.rows, 6),
            "rows": self.rows,
        }

    def format(self, before: str = "float32", after: str = "new") -> str:
        lines = [
            f"per label ({before} at its thresholds -> {after} at its thresholds, {self.rows} rows):",
            *format_table(self.labels),
        ]
        lines += [f"note: {c.note}" for c in self.labels if c.note]
        lines.append(
            f"probabilities: max abs deviation {self.max_abs_deviation:.2g}, mean {self.mean_abs_deviation:.2g}; "
            f"multi-hot answer changed on {self.changed_rows} of {self.rows} rows "
            f"({self.changed_rows / self.rows:.1%})"
        )
        return "\n".join(lines)


def compare_labels(
    labels: list[str],
    thresholds: list[float],
    methods: dict[str, str] | None,
    float_probabilities: np.ndarray,
    new_probabilities: np.ndarray,
    truth: np.ndarray,
) -> LabelTable:
    """Score both models per label; `methods` (label → recorded method) re-chooses thresholds, None keeps them."""
    comparisons = []
    for j, label in enumerate(labels):
        current = stored_value(np.float32(thresholds[j]))
        method = methods.get(label, METHOD_KEPT) if methods is not None else METHOD_KEPT
        column = new_probabilities[:, j]
        if method == METHOD_KEPT:
            scores = scores_at(column, truth[:, j], current)
            choice = LabelCalibration(label, METHOD_KEPT, current, current, scores, scores, curve(column, truth[:, j]))
            if not truth[:, j].any():
                choice = _with_note(choice, f"no positive rows for '{label}' in the data: F1 cannot be judged")
        else:
            choice = calibrate_label(label, column, truth[:, j], current, Target.from_method(method))
        comparisons.append(
            LabelComparison(
                label=label,
                method=choice.method,
                threshold_before=current,
                threshold=choice.threshold,
                before=scores_at(float_probabilities[:, j], truth[:, j], current),
                after=choice.after,
                curve_before=curve(float_probabilities[:, j], truth[:, j]),
                choice=choice,
                note=choice.note,
            )
        )
    float_hot = float_probabilities >= np.asarray(thresholds, np.float32)
    new_hot = new_probabilities >= np.asarray([c.threshold for c in comparisons], np.float32)
    deviation = np.abs(new_probabilities.astype(np.float64) - float_probabilities.astype(np.float64))
    return LabelTable(
        labels=comparisons,
        rows=int(truth.shape[0]),
        max_abs_deviation=float(deviation.max()),
        mean_abs_deviation=float(deviation.mean()),
        changed_rows=int(np.any(float_hot != new_hot, axis=1).sum()),
    )


def _with_note(choice: LabelCalibration, note: str) -> LabelCalibration:
    return LabelCalibration(
        choice.label, choice.method, choice.threshold_before, choice.threshold, choice.before, choice.after,
        choice.curve, note,
    )  # fmt: skip

"""One before/after table for calibrate, optimize and publish: for all three, the layout the README shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_export.calibration.calibrate_command import CalibrationResult
from model_export.calibration.table import format_table
from model_export.calibration.threshold_choice import LabelCalibration, LabelRow, Scores, curve
from model_export.optimize.label_comparison import LabelComparison, LabelTable

BEFORE, AFTER = Scores(tp=3, fp=1, fn=1, tn=5), Scores(tp=4, fp=0, fn=0, tn=6)
EXPECTED = [  # the README's publish table, with these scores
    "label                 threshold         precision            recall                F1  F1 change  method",
    "first           0.4768 -> 0.473    0.750 -> 1.000    0.750 -> 1.000    0.750 -> 1.000     +0.250  max_f1",
    "sum              0.51856 -> 0.5    0.750 -> 1.000    0.750 -> 1.000    0.750 -> 1.000     +0.250  max_f1",
    "magnitude       0.1738 -> 0.323    0.750 -> 1.000    0.750 -> 1.000    0.750 -> 1.000     +0.250  "
    "target_recall=0.95",
]
ROWS = [
    ("first", 0.4768, 0.473, "max_f1"),
    ("sum", 0.51856, 0.5, "max_f1"),
    ("magnitude", 0.1738, 0.323, "target_recall=0.95"),
]


def test_publish_prints_the_readme_layout() -> None:
    rows = [LabelRow(label, method, before, after, BEFORE, AFTER) for label, before, after, method in ROWS]
    assert format_table(rows) == EXPECTED


def test_calibrate_and_optimize_print_the_same_table() -> None:
    points = curve(np.array([0.9, 0.1], np.float32), np.array([True, False]))
    choices = [LabelCalibration(label, method, b, a, BEFORE, AFTER, points) for label, b, a, method in ROWS]
    calibrated = CalibrationResult(Path("m.onnx"), Path("n.onnx"), Path("val.npz"), 10, choices).format()
    assert calibrated.splitlines()[1:5] == EXPECTED
    comparisons = [
        LabelComparison(c.label, c.method, c.threshold_before, c.threshold, BEFORE, AFTER, points, c) for c in choices
    ]
    optimized = LabelTable(comparisons, rows=10, max_abs_deviation=0.0, mean_abs_deviation=0.0, changed_rows=0).format()
    assert optimized.splitlines()[1:5] == EXPECTED

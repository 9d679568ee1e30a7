"""The one before/after table per label, printed by `calibrate`, `optimize` and `publish`.

Each row (a `LabelRow`): threshold, precision, recall and F1 as "before -> after", the F1 change, and how the
threshold was chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from model_export.calibration.threshold_choice import LabelRow


def format_table(rows: Sequence[LabelRow]) -> list[str]:
    width = max([len("label"), *(len(row.label) for row in rows)]) + 2
    lines = [f"{'label':<{width}}{'threshold':>20}{'precision':>18}{'recall':>18}{'F1':>18}{'F1 change':>11}  method"]
    for row in rows:
        lines.append(
            f"{row.label:<{width}}{_pair(row.threshold_before, row.threshold, 'g'):>20}"
            f"{_pair(row.before.precision, row.after.precision):>18}{_pair(row.before.recall, row.after.recall):>18}"
            f"{_pair(row.before.f1, row.after.f1):>18}{row.after.f1 - row.before.f1:>+11.3f}  {row.method}"
        )
    return lines


def _pair(before: float, after: float, fmt: str = ".3f") -> str:
    return f"{before:{fmt}} -> {after:{fmt}}"

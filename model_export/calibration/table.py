"""The before/after table `publish` prints: per label, threshold, precision, recall and F1, and the F1 change."""

from __future__ import annotations

from dataclasses import dataclass

from model_export.calibration.threshold_choice import Scores


@dataclass(frozen=True)
class LabelRow:
    label: str
    threshold_before: float
    threshold_after: float
    before: Scores
    after: Scores
    method: str


def format_table(rows: list[LabelRow]) -> list[str]:
    width = max([len("label"), *(len(row.label) for row in rows)]) + 2
    header = f"{'label':<{width}}{'threshold':>20}{'precision':>18}{'recall':>18}{'F1':>18}{'F1 change':>11}  method"
    lines = [header]
    for row in rows:
        change = row.after.f1 - row.before.f1
        lines.append(
            f"{row.label:<{width}}{_pair(row.threshold_before, row.threshold_after, 'g'):>20}"
            f"{_pair(row.before.precision, row.after.precision):>18}{_pair(row.before.recall, row.after.recall):>18}"
            f"{_pair(row.before.f1, row.after.f1):>18}{change:>+11.3f}  {row.method}"
        )
    return lines


def _pair(before: float, after: float, fmt: str = ".3f") -> str:
    return f"{before:{fmt}} -> {after:{fmt}}"

"""The one before/after table per label, printed by `calibrate`, `optimize` and `publish`.

Each row: threshold, precision, recall and F1 as "before -> after", the F1 change, and how the threshold was chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from model_export.calibration.threshold_choice import Scores


class BeforeAfter(Protocol):
    """A label's row: calibrate's LabelCalibration, optimize's LabelComparison and publish's LabelRow all are one."""

    @property
    def label(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def threshold_before(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def before(self) -> Scores: ...
    @property
    def after(self) -> Scores: ...


@dataclass(frozen=True)
class LabelRow:
    """`publish`'s row: "before" is the served version (or the exported model), "after" the published one."""

    label: str
    threshold_before: float
    threshold: float
    before: Scores
    after: Scores
    method: str


def format_table(rows: Sequence[BeforeAfter]) -> list[str]:
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

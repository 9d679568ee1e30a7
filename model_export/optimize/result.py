"""What `optimize` found, and how it is told: the candidates and speed tables, the chosen candidate's per-label
table, the one-line reason of a refusal, and the HTML report page."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from model_export.calibration.html_report import LabelPanel, ReportPage
from model_export.optimize.label_comparison import LabelTable
from model_export.optimize.speed import SpeedTable
from model_export.optimize.variants import VARIANT_FP16, Candidate

BASELINE = "float32"


@dataclass
class Measured:
    """One candidate: its per-label table, its speed-ups over float32, and what keeps it from being written."""

    candidate: Candidate
    table: LabelTable
    speedups: dict[int, float] = field(default_factory=dict)  # at the gate batches: 1 and float32's best
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def mean_speedup(self) -> float:
        return math.prod(self.speedups.values()) ** (1 / len(self.speedups))


@dataclass
class OptimizationResult:
    source: Path
    output: Path
    data_file: Path
    variant: str
    chosen: Measured
    candidates: list[Measured]
    speed: SpeedTable
    gate_batches: tuple[int, ...]
    thresholds_note: str
    written: bool = False
    left_out: int = 0  # rows of text with no token: the service answers them 400, so they are not scored
    entry: dict = field(default_factory=dict)  # the `optimization` metadata entry

    def format(self) -> str:
        return format_result(self)


def format_result(result: OptimizationResult) -> str:
    speed, batches = result.speed, result.speed.batches
    best = speed.best_batch(BASELINE)
    lines = [
        f"optimize {result.source} ({result.variant}) on {result.data_file.name} ({result.chosen.table.rows} rows)",
        f"rows/s, one thread (batch {' / '.join(map(str, batches))}); speed-up vs float32 judged at batch "
        f"{' and '.join(map(str, result.gate_batches))} (float32's best batch is {best}):",
        f"  {BASELINE:<30}" + "".join(_rate(speed.rows_per_second[BASELINE][b]) for b in batches),
    ]
    for m in result.candidates:
        rates = "".join(_rate(speed.rows_per_second[m.name].get(b)) for b in batches)
        ups = " ".join(_times(speed.speedup(m.name, BASELINE, b)) for b in batches)
        verdict = "; ".join(m.problems) or ("chosen" if m is result.chosen else "")
        if m is result.chosen and m.problems:
            verdict = f"best, but {verdict}"
        lines.append(
            f"  {m.name:<30}{rates}   {ups}   worst F1 change {0.0 - m.table.worst_f1_drop:+.3f}   "
            f"max dev {m.table.max_abs_deviation:.2g}   {verdict}"
        )
    lines += ["", f"{result.chosen.name}, " + result.chosen.table.format(BASELINE, result.chosen.name)]
    lines.append(result.thresholds_note)
    if result.left_out:
        lines.append(f"note: left out {result.left_out} rows with no token after standardization (answered 400)")
    if result.chosen.problems:
        lines.append("not fit to write: " + "; ".join(result.chosen.problems))
    if result.written:
        lines.append(f"wrote      {result.output}")
    return "\n".join(lines)


def _rate(rows_per_second: float | None) -> str:
    return f"{'-':>10}" if rows_per_second is None else f"{rows_per_second:>10,.0f}"


def _times(speedup: float | None) -> str:
    return "  -  " if speedup is None else f"{speedup:.2f}x"


def refusal_reason(result: OptimizationResult) -> str:
    """One line: why nothing was written, and how to write it anyway."""
    chosen = result.chosen
    if len(result.candidates) > 1:
        reason = f"refused: no {result.variant} candidate passes; the best, {chosen.name}: "
    else:
        reason = f"refused: {chosen.name}: "
    reason += "; ".join(chosen.problems)
    if result.variant == VARIANT_FP16 and any(p.startswith("slower") for p in chosen.problems):
        reason += " (ONNX Runtime's CPU kernels do not make float16 pay on this machine)"
    return reason + ". Nothing written; --force writes it anyway"


def report_page(result: OptimizationResult) -> ReportPage:
    chosen = result.chosen
    name = chosen.name
    deviation = chosen.table.deviation()
    ups = ", ".join(f"{s:.2f}x at batch {b}" for b, s in chosen.speedups.items())
    panels = [
        LabelPanel(
            c.label,
            c.method,
            c.threshold_before,
            c.threshold,
            c.before,
            c.after,
            ((BASELINE, c.curve_before), (name, c.choice.curve)),
            c.note,
        )
        for c in chosen.table.labels
    ]
    return ReportPage(
        title=f"Optimization ({result.variant}): {result.source.parent.parent.name or result.source.name}",
        summary=[
            f"{result.source} → {result.output}" + ("" if result.written else " (not written)"),
            f"{name}: {ups} vs float32; probabilities max abs deviation {deviation['max_abs']:g}, "
            f"multi-hot answer changed on {deviation['changed_rows']} of {deviation['rows']} rows.",
            f"data {result.data_file.name}; {result.thresholds_note}.",
            *(f"not fit to write: {p}" for p in chosen.problems),
        ],
        panels=panels,
        before="float32 at its threshold",
        after=f"{name} at its threshold",
    )

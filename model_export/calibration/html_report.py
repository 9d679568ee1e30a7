"""Threshold reports: one self-contained HTML page (inline SVG and CSS, no scripts, no CDN).

The page is drawn from a `ReportPage`, defined here, so that the commands that write reports (calibrate,
optimize) import this module and this module imports none of them.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_export.calibration.threshold_choice import Curve, LabelCalibration, Scores
from model_export.files import write_atomically


@dataclass(frozen=True)
class LabelPanel:
    """One label: its row in the score table and its precision-recall chart."""

    label: str
    method: str
    threshold_before: float
    threshold: float
    before: Scores
    after: Scores
    curves: tuple[tuple[str, Curve], ...]  # (name, curve); with two, the first is the model before (grey)
    note: str | None = None

    @classmethod
    def from_calibration(cls, c: LabelCalibration, curve_name: str = "model") -> LabelPanel:
        curves = ((curve_name, c.curve),)
        return cls(c.label, c.method, c.threshold_before, c.threshold, c.before, c.after, curves, c.note)


@dataclass(frozen=True)
class ReportPage:
    title: str
    summary: list[str]  # plain-text lines under the title
    panels: list[LabelPanel]
    before: str = "threshold before"  # legend of the hollow marker
    after: str = "chosen threshold"  # legend of the filled marker


_W, _H, _PAD = 310, 250, 36  # chart size and left/bottom margin, px
_RIGHT = 30  # right margin: room for the equal-F1 line labels
_MAX_POINTS = 400  # curve points drawn per label; more adds bytes, not information
_CURVE_COLOURS = ("#8c959f", "#0969da")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:24px auto;max-width:1100px;
padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.meta{color:#59636e;margin:0 0 16px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #d1d9e0;border-radius:8px;padding:10px 12px}
.card h3{margin:0 0 2px;font-size:15px}.card p{margin:0;color:#59636e;font-size:12.5px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid #e6e9ec;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f6f8fa;font-weight:600}.up{color:#1a7f37}.down{color:#cf222e}.note{color:#9a6700;font-size:12.5px}
.legend{color:#59636e;font-size:12.5px;margin:6px 0 0}.dot{display:inline-block;width:10px;height:10px;
border-radius:50%;vertical-align:-1px;margin:0 4px 0 10px}
"""


def write_report(page: ReportPage, path: Path) -> None:
    write_atomically(path, render_report(page).encode())


def render_report(page: ReportPage) -> str:
    cards = "\n".join(_card(panel) for panel in page.panels)
    notes = "".join(f'<p class="note">{html.escape(p.note)}</p>' for p in page.panels if p.note)
    summary = "<br>\n".join(html.escape(line) for line in page.summary)
    curves = "".join(
        f'<span class="dot" style="background:{_CURVE_COLOURS[i]}"></span>{html.escape(name)} curve'
        for i, (name, _) in enumerate(page.panels[0].curves if page.panels else ())
        if len(page.panels[0].curves) > 1
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(page.title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(page.title)}</h1>
<p class="meta">{summary}<br>
Rule in serving: <code>probability &ge; threshold</code> (float32).</p>
<h2>Scores before and after</h2>
{_table(page.panels)}
{notes}
<h2>Precision&ndash;recall per label</h2>
<p class="legend"><span class="dot" style="background:#fff;border:2px solid #6e7781"></span>{html.escape(page.before)}
<span class="dot" style="background:#0969da"></span>{html.escape(page.after)}{curves}
<span style="margin-left:10px;color:#8c959f">dotted: equal-F1 lines (value at the right);
axes zoomed to the operating points</span></p>
<div class="grid">
{cards}
</div>
</body></html>
"""


def _table(choices: list[LabelPanel]) -> str:
    head = (
        "<tr><th>label</th><th>threshold</th><th>precision</th><th>recall</th><th>F1</th><th>positives</th>"
        "<th>method</th></tr>"
    )
    rows = []
    for c in choices:
        cells = [
            f"<td>{html.escape(c.label)}</td>",
            f"<td>{c.threshold_before:g} &rarr; <b>{c.threshold:g}</b></td>",
            _delta_cell(c.before.precision, c.after.precision),
            _delta_cell(c.before.recall, c.after.recall),
            _delta_cell(c.before.f1, c.after.f1),
            f"<td>{c.after.tp + c.after.fn}</td>",
            f"<td>{html.escape(c.method)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _delta_cell(before: float, after: float) -> str:
    change = after - before
    css = "up" if change > 5e-4 else ("down" if change < -5e-4 else "")
    sign = f' <span class="{css}">({change:+.3f})</span>' if css else ""
    return f"<td>{before:.3f} &rarr; <b>{after:.3f}</b>{sign}</td>"


class _Axes:
    """Maps recall (x) and precision (y) into the chart, zoomed to where the operating points are.

    A good model's curve hugs the top-right corner; drawn on [0, 1] both markers sit on one pixel.
    """

    def __init__(self, c: LabelPanel) -> None:
        def low(values: list[float]) -> float:
            return float(min(0.8, max(0.0, np.floor((min(values) - 0.1) * 10) / 10)))

        points = [(s.recall, s.precision) for s in (c.before, c.after) if s.tp + s.fp]
        self.x0 = low([r for r, _ in points]) if points else 0.0
        self.y0 = low([p for _, p in points]) if points else 0.0

    def x(self, recall: float) -> float:
        return _PAD + (recall - self.x0) / (1 - self.x0) * (_W - _PAD - _RIGHT)

    def y(self, precision: float) -> float:
        return _H - _PAD - (precision - self.y0) / (1 - self.y0) * (_H - _PAD - 10)

    def ticks(self, low: float) -> list[float]:
        return [round(low + i * (1 - low) / 4, 3) for i in range(5)]


def _card(c: LabelPanel) -> str:
    return (
        f'<div class="card"><h3>{html.escape(c.label)}</h3>'
        f"<p>threshold {c.threshold_before:g} &rarr; <b>{c.threshold:g}</b> &middot; "
        f"F1 {c.before.f1:.3f} &rarr; <b>{c.after.f1:.3f}</b></p>{_chart(c)}</div>"
    )


def _chart(c: LabelPanel) -> str:
    ax = _Axes(c)
    clip = "clip-" + hashlib.sha1(c.label.encode()).hexdigest()[:10]  # stable ids: same data, same page
    parts = [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" font-size="11" fill="#59636e">',
        f'<clipPath id="{clip}"><rect x="{ax.x(ax.x0) - 6:.1f}" y="{ax.y(1) - 6:.1f}" '
        f'width="{ax.x(1) - ax.x(ax.x0) + 12:.1f}" height="{ax.y(ax.y0) - ax.y(1) + 6:.1f}"/></clipPath>',
    ]
    for tick in ax.ticks(ax.x0):
        x = ax.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{ax.y(ax.y0):.1f}" x2="{x:.1f}" y2="{ax.y(1):.1f}" stroke="#eef1f4"/>')
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">{tick:g}</text>')
    for tick in ax.ticks(ax.y0):
        y = ax.y(tick)
        parts.append(f'<line x1="{ax.x(ax.x0):.1f}" y1="{y:.1f}" x2="{ax.x(1):.1f}" y2="{y:.1f}" stroke="#eef1f4"/>')
        parts.append(f'<text x="{_PAD - 5}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{ax.x((1 + ax.x0) / 2):.1f}" y="{_H - 4}" text-anchor="middle">recall</text>')
    parts.append(
        f'<text transform="translate(11 {ax.y((1 + ax.y0) / 2):.1f}) rotate(-90)" text-anchor="middle">precision</text>'
    )
    parts.append(f'<g clip-path="url(#{clip})">')
    for f in _iso_levels(ax):
        parts.append(_polyline(ax, _iso_f1(f), 'stroke="#d0d7de" stroke-dasharray="2 3"'))
    colours = _CURVE_COLOURS[-len(c.curves) :]  # one curve: blue; two: grey (before), blue (after)
    for (_, points_of), colour in zip(c.curves, colours, strict=True):
        recall, precision = points_of.recall, points_of.precision
        if len(recall):
            keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), _MAX_POINTS)).astype(int))
            points = [(0.0, float(precision[0]))] + list(zip(recall[keep], precision[keep], strict=True))
            parts.append(_polyline(ax, points, f'stroke="{colour}" stroke-width="1.8"'))
    before, after = c.before, c.after
    if before.tp + before.fp:
        parts.append(
            f'<circle cx="{ax.x(before.recall):.1f}" cy="{ax.y(before.precision):.1f}" r="6.5" fill="#fff" '
            'stroke="#6e7781" stroke-width="2"><title>before</title></circle>'
        )
    parts.append(
        f'<circle cx="{ax.x(after.recall):.1f}" cy="{ax.y(after.precision):.1f}" r="4.5" fill="#0969da" '
        f'stroke="#fff" stroke-width="1"><title>threshold {c.threshold:g}</title></circle>'
    )
    parts.append("</g>")
    for f in _iso_levels(ax):
        at_full_recall = f / (2 - f)  # where the equal-F1 line meets recall = 1
        if at_full_recall > ax.y0 + 0.01:
            parts.append(
                f'<text x="{ax.x(1) + 3:.1f}" y="{ax.y(at_full_recall) + 3:.1f}" fill="#8c959f" '
                f'font-size="9.5">{f:g}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _iso_levels(ax: _Axes) -> list[float]:
    """Iso-F1 lines that cross the visible part of the chart."""
    floor = min(ax.x0, ax.y0)
    return [f for f in (0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98) if f > floor][-4:]


def _iso_f1(f1: float) -> list[tuple[float, float]]:
    recalls = np.linspace(f1 / 2 + 1e-3, 1.0, 60)
    precisions = f1 * recalls / (2 * recalls - f1)
    return [(r, p) for r, p in zip(recalls, precisions, strict=True) if p <= 1.0]


def _polyline(ax: _Axes, points: list[tuple[float, float]], style: str) -> str:
    coords = " ".join(f"{ax.x(float(r)):.1f},{ax.y(float(p)):.1f}" for r, p in points)
    return f'<polyline points="{coords}" fill="none" {style}/>'

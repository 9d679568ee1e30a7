"""Render the dashboard's per-label panel (live positive rate vs reference) as a PNG, from a real Prometheus.

    python deploy/monitoring/render_label_panel.py --prometheus http://127.0.0.1:9090 --model digits --version 1 \
        --minutes 30 --output label-panel.png

No Grafana needed: the queries are read from sigmoid-serve-dashboard.json (the panel repeated per label), Grafana's
variables are filled in, Prometheus' range API answers them, and matplotlib (a dev dependency) draws one chart per
label. Exit 2 with one line when something is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import httpx

DASHBOARD = Path(__file__).with_name("sigmoid-serve-dashboard.json")
POINTS = 240  # per chart: the range API's step is the time range divided by this


class RenderError(Exception):
    pass


def label_panel(dashboard: dict) -> dict:
    """The time series panel repeated per label: its targets are the live rate and the reference."""
    for panel in dashboard["panels"]:
        if panel["type"] == "timeseries" and panel.get("repeat") == "label":
            return panel
    raise RenderError(f"{DASHBOARD.name} has no time series panel repeated per label")


def fill(query: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], query)


def query_range(client: httpx.Client, expression: str, start: float, end: float, step: float) -> list[dict]:
    params = {"query": expression, "start": start, "end": end, "step": step}
    answer = client.get("/api/v1/query_range", params=params).json()
    if answer["status"] != "success":
        raise RenderError(f"Prometheus refused {expression}: {answer.get('error')}")
    return answer["data"]["result"]


def labels_of(client: httpx.Client, model: str, version: str) -> list[str]:
    selector = f'sigmoid_serve_label_positive_rows_total{{model="{model}", version="{version}"}}'
    answer = client.get("/api/v1/query", params={"query": f"group by (label) ({selector})"}).json()
    labels = sorted(sample["metric"]["label"] for sample in answer["data"]["result"])
    if not labels:
        raise RenderError(f"Prometheus has no per-label series of model {model} version {version}")
    return labels


def render(prometheus: str, model: str, version: str, minutes: float, window: str, output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    panel = label_panel(json.loads(DASHBOARD.read_text()))
    end = time.time()
    start, step = end - minutes * 60, max(1.0, minutes * 60 / POINTS)
    unit, seconds_per_unit = ("seconds", 1) if minutes < 3 else ("minutes", 60)
    with httpx.Client(base_url=prometheus, timeout=30) as client:
        labels = labels_of(client, model, version)
        columns = min(3, len(labels))
        rows = math.ceil(len(labels) / columns)
        figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), sharey=True, squeeze=False)
        for axis in axes.flat[len(labels) :]:
            axis.set_visible(False)
        for axis, label in zip(axes.flat, labels, strict=False):
            variables = {"model": model, "version": version, "label": label, "window": window}
            for target in panel["targets"]:
                for series in query_range(client, fill(target["expr"], variables), start, end, step):
                    times = [(float(t) - end) / seconds_per_unit for t, _ in series["values"]]
                    values = [float(v) for _, v in series["values"]]
                    style = "--" if target["legendFormat"] == "reference" else "-"
                    axis.plot(times, values, style, label=target["legendFormat"], linewidth=1.6)
            axis.set_title(fill(panel["title"], variables), fontsize=9)
            axis.set_xlabel(f"{unit} ago")
            axis.yaxis.set_major_formatter(PercentFormatter(1.0))
            axis.set_ylim(0, 1)
            axis.grid(alpha=0.3)
        for row in axes:
            row[0].set_ylabel(f"rows positive (over {window})")
        axes[0][0].legend(loc="upper left", fontsize=8)
    figure.suptitle(f"{model} version {version}: live positive rate vs reference, per label", fontsize=10)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="time range, ending now")
    parser.add_argument("--window", default="1h", help="the dashboard's rate window ($window)")
    parser.add_argument("--output", "-o", type=Path, default=Path("label-panel.png"))
    args = parser.parse_args(argv)
    try:
        written = render(args.prometheus, args.model, args.version, args.minutes, args.window, args.output)
    except (RenderError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Grafana dashboard: a well-formed dashboard JSON whose every query (panels and variables) parses as
PromQL in promtool, once Grafana's variables are given values, and selects only metrics the service exports."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.promql import exported_metric_names, promtool_parse_errors, selected_metrics
from tests.support.server import ROOT

DASHBOARD_FILE = ROOT / "deploy" / "monitoring" / "sigmoid-serve-dashboard.json"
DASHBOARD = json.loads(DASHBOARD_FILE.read_text())
# What Grafana puts in place of the variables when it runs a query.
VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "window": "1h",
    "model": "digits",
    "version": "1",
    "label": "even",
}
PANEL_TYPES = {"row", "timeseries", "heatmap"}


def panels() -> list[dict]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def with_values(query: str) -> str:
    filled = re.sub(r"\$\{?(\w+)\}?", lambda m: VALUES[m.group(1)], query)
    assert "$" not in filled, query
    return filled


def queries() -> dict[str, str]:
    """Every query of the dashboard, named for promtool: panels' targets and the variables' label_values()."""
    found = {}
    for panel in panels():
        for target in panel["targets"]:
            found[f"panel_{panel['id']}_{target['refId']}"] = with_values(target["expr"])
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            selector = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"]["query"])
            assert selector, variable["query"]
            found[f"variable_{variable['name']}"] = with_values(selector.group(1))
    return found


def test_dashboard_structure() -> None:
    assert DASHBOARD["uid"] and DASHBOARD["title"] and isinstance(DASHBOARD["schemaVersion"], int)
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in DASHBOARD["panels"]:
        assert panel["type"] in PANEL_TYPES and panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        if "repeat" in panel:
            assert variables[panel["repeat"]]["multi"], panel["title"]
        used = set(re.findall(r"\$\{?(\w+)", json.dumps(panel)))
        assert used <= set(variables) | {"__rate_interval", "__interval"}, panel["title"]
    kinds = {(p["type"], p.get("repeat")) for p in panels()}
    assert ("heatmap", "label") in kinds and ("timeseries", "label") in kinds  # per-label panels


def test_dashboard_covers_the_brief() -> None:
    expressions = " ".join(t["expr"] for p in panels() for t in p["targets"])
    for metric in (
        "sigmoid_serve_requests_total",
        "sigmoid_serve_request_duration_seconds_bucket",
        "sigmoid_serve_batch_rows_bucket",
        "sigmoid_serve_queue_rows",
        "sigmoid_serve_label_positive_rows_total",
        "sigmoid_serve_label_reference_positive_ratio",
        "sigmoid_serve_label_probability_bucket",
    ):
        assert metric in expressions, metric
    heatmap = next(p for p in panels() if p["type"] == "heatmap")
    assert heatmap["targets"][0]["format"] == "heatmap" and "by (le)" in heatmap["targets"][0]["expr"]


def test_every_query_parses_in_promtool() -> None:
    errors = promtool_parse_errors(queries())
    assert errors == "", errors


@pytest.mark.parametrize("name", sorted(queries()))
def test_every_query_selects_only_exported_metrics(name: str) -> None:
    used = selected_metrics(queries()[name])
    assert used, name
    unknown = used - exported_metric_names()
    assert not unknown, f"{name} selects {unknown}, which the service does not export"

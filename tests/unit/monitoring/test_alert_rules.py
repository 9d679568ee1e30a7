"""deploy/monitoring: the alerting rules pass `promtool check rules`, their unit tests pass `promtool test rules`
(the drift alert fires on a drifted series and stays quiet on normal ones; the never-positive and service alerts
too), the PrometheusRule carries exactly the plain file's rules, and every metric a rule reads is one the service
exports (or a rule records)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.promql import PROMTOOL, exported_metric_names, promtool_parse_errors, selected_metrics
from tests.support.server import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "sigmoid-serve.rules.yml"
RULES_TESTS = ROOT / "deploy" / "monitoring" / "sigmoid-serve.rules_test.yml"
PROMETHEUS_MADE = {"up"}  # series Prometheus itself writes for every target


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, cwd=RULES_TESTS.parent)


def rules_of(groups: list[dict]) -> list[dict]:
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    checked = promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_promtool_unit_tests_of_the_alerts() -> None:
    tested = promtool("test", "rules", RULES_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = {
        t["alertname"]
        for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
        for t in test.get("alert_rule_test", [])
    }
    assert tested_alerts == {r["alert"] for r in rules_of(yaml.safe_load(RULES.read_text())["groups"]) if "alert" in r}


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same unit tests against rules whose drift ratio is 3 instead of 1.5: the 2x drift no longer fires."""
    text = RULES.read_text()
    assert text.count("expr: vector(1.5)") == 1
    (tmp_path / "sigmoid-serve.rules.yml").write_text(text.replace("expr: vector(1.5)", "expr: vector(3)"))
    tests = yaml.safe_load(RULES_TESTS.read_text())
    tests["rule_files"] = [str(tmp_path / "sigmoid-serve.rules.yml")]
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests))
    tested = promtool("test", "rules", tmp_path / "rules_test.yml")
    assert tested.returncode != 0
    assert "SigmoidServeLabelRateDrift" in tested.stdout + tested.stderr


def test_prometheusrule_carries_the_same_rules() -> None:
    plain = yaml.safe_load(RULES.read_text())
    operator = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert (operator["apiVersion"], operator["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert operator["metadata"]["name"] == "sigmoid-serve"
    assert set(operator) == {"apiVersion", "kind", "metadata", "spec"} and set(operator["spec"]) == {"groups"}
    assert operator["spec"]["groups"] == plain["groups"], "run `make prometheusrule` after editing the rules file"


def test_monitoring_kustomization_lists_what_is_there() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    (dashboard,) = kustomization["configMapGenerator"]
    assert all((MONITORING / name).is_file() for name in dashboard["files"])
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text())
    service = yaml.safe_load((ROOT / "deploy" / "service.yaml").read_text())
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # The Operator names the job after the Service: the rules' `up{job=...}` must use that name.
    assert f'up{{job="{service["metadata"]["name"]}"}}' in RULES.read_text()
    # The core kustomization must stay valid without the Operator's CRDs.
    core = yaml.safe_load((ROOT / "deploy" / "kustomization.yaml").read_text())
    assert not [r for r in core["resources"] if "monitoring" in r]


def test_rules_read_only_exported_or_recorded_metrics() -> None:
    rules = rules_of(yaml.safe_load(RULES.read_text())["groups"])
    recorded = {r["record"] for r in rules if "record" in r}
    allowed = exported_metric_names() | recorded | PROMETHEUS_MADE
    for rule in rules:
        used = selected_metrics(rule["expr"])
        assert used or rule["expr"].startswith("vector("), rule
        assert used <= allowed, f"{rule.get('alert') or rule.get('record')} reads unknown {used - allowed}"
    assert {"sigmoid_serve_label_positive_rows_total", "sigmoid_serve_scored_rows_total"} <= set().union(
        *(selected_metrics(r["expr"]) for r in rules)
    )


def test_metric_name_check_catches_a_misspelt_metric() -> None:
    used = selected_metrics('sum by (model) (rate(sigmoid_serve_request_total{status=~"5.."}[5m])) / on (model) up')
    assert used == {"sigmoid_serve_request_total", "up"}
    assert "sigmoid_serve_request_total" not in exported_metric_names()
    assert promtool_parse_errors({"fine": "sum(rate(up[5m]))"}) == ""
    assert "parse error" in promtool_parse_errors({"broken": "sum(rate(up[5m])"})

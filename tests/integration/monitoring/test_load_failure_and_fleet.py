"""Alerts that fire: the first failed load of a model reaches SigmoidServeModelLoadFailed, the fleet's readiness is a
metric of its own, and Prometheus ships with a configuration whose job name the rules expect.

- The service writes both outcomes of sigmoid_serve_model_loads_total at 0 when it first hears of a model, so that a
  later failure is an increase (before, the failure series was born at 1 and increase() stayed 0).
- A series born at 1 all the same (a new model whose first version fails between two scrapes) is counted by the
  rule itself: a real Prometheus, scraping a real server every second with the shipped rules, fires the alert; the
  promtool unit test of that case fails with the rule as it was.
- sigmoid_serve_ready is 1 when /health/ready is 200, 0 while draining.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.onnx_models import linear_model
from tests.support.prometheus import JOB, RunningPrometheus, prometheus_scraping
from tests.support.promql import PROMTOOL
from tests.support.repository_files import publish_corrupt
from tests.support.server import ROOT, RunningServer

MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "sigmoid-serve.rules.yml"
RULES_TESTS = ROOT / "deploy" / "monitoring" / "sigmoid-serve.rules_test.yml"
OLD_RULE = 'expr: sum by (model) (increase(sigmoid_serve_model_loads_total{outcome="failure"}[15m])) > 0'


def samples(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningServer]:
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    with RunningServer({"MODEL_REPOSITORY": str(tmp_path), "MODEL_POLL_SECONDS": "0.2"}) as running:
        yield running


def test_both_outcomes_are_written_at_0_when_a_model_is_first_seen(served: RunningServer) -> None:
    found = samples(served)
    loads = "sigmoid_serve_model_loads_total"
    assert found[(loads, (("model", "linear"), ("outcome", "success")))] == 1
    assert found[(loads, (("model", "linear"), ("outcome", "failure")))] == 0  # there before any failure


def test_readiness_is_a_metric(served: RunningServer) -> None:
    assert samples(served)[("sigmoid_serve_ready", ())] == 1


def test_readiness_metric_is_0_while_draining(tmp_path: Path) -> None:
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    with RunningServer({"MODEL_REPOSITORY": str(tmp_path), "SHUTDOWN_DELAY_SECONDS": "5"}) as running:
        running.process.send_signal(signal.SIGTERM)
        assert samples(running)[("sigmoid_serve_ready", ())] == 0


@pytest.fixture
def prometheus(served: RunningServer) -> Iterator[RunningPrometheus]:
    yield from prometheus_scraping(served.url, rule_files=[RULES])


def firing(prometheus: RunningPrometheus, alert: str) -> set[str]:
    result = prometheus.query(f'ALERTS{{alertname="{alert}", alertstate="firing"}}')
    return {sample["metric"].get("model", "") for sample in result}


def test_a_new_model_whose_first_version_fails_fires_the_alert(
    served: RunningServer, prometheus: RunningPrometheus, tmp_path: Path
) -> None:
    """The issue's set-up: garbage written to repo/broken/1/model.onnx; its failure series is born at 1."""
    prometheus.wait_for_scrape()
    publish_corrupt(tmp_path, "broken", 1)
    alert = "SigmoidServeModelLoadFailed"
    fired = prometheus.wait_for(lambda: firing(prometheus, alert), lambda models: "broken" in models, timeout=30)
    assert fired == {"broken"}, prometheus.log[-2000:]
    loads = 'sigmoid_serve_model_loads_total{model="broken", outcome="failure"}'
    assert prometheus.value(f"min_over_time({loads}[1h])") == 1  # never seen at 0: born at 1


def test_the_born_at_1_unit_test_fails_with_the_rule_as_it_was(tmp_path: Path) -> None:
    text = RULES.read_text()
    start = text.index("      - alert: SigmoidServeModelLoadFailed")
    expression_start = text.index("        expr: |", start)
    expression_end = text.index("        labels:", expression_start)
    (tmp_path / "old.rules.yml").write_text(text[:expression_start] + f"        {OLD_RULE}\n" + text[expression_end:])
    tests = yaml.safe_load(RULES_TESTS.read_text())
    tests["rule_files"] = [str(tmp_path / "old.rules.yml")]
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests))
    tested = subprocess.run([PROMTOOL, "test", "rules", tmp_path / "rules_test.yml"], capture_output=True, text=True)
    assert tested.returncode != 0
    assert 'model="fresh"' in tested.stdout + tested.stderr


def test_the_shipped_prometheus_config_is_valid_and_names_the_job_the_rules_expect() -> None:
    checked = subprocess.run([PROMTOOL, "check", "config", str(MONITORING / "prometheus.yml")], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES.name]
    assert JOB in [job["job_name"] for job in config["scrape_configs"]]
    assert f'job="{JOB}"' in RULES.read_text()

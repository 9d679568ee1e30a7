"""A real Prometheus scraping the real service every second (1 and 2 workers): what it stores equals what the
service answered, and the drift alert's own expression, evaluated by Prometheus with the shipped rules, crosses
its threshold when the input distribution shifts and stays quiet before."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from model_export.calibration.calibrate_command import calibrate_model
from model_export.demos.digits import split_digits, write_validation
from model_export.metadata import read_metadata
from service.contract.reference_rates import parse_reference_rates
from tests.support.prometheus import RunningPrometheus, prometheus_scraping
from tests.support.server import ROOT, RunningServer, serving

RULES = ROOT / "deploy" / "monitoring" / "sigmoid-serve.rules.yml"
RENDER = ROOT / "deploy" / "monitoring" / "render_label_panel.py"
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO = ROOT / "models" / "digits" / "1" / "model.onnx"
ROWS_PER_REQUEST = 15
DRIFT_RATIO = 1.5  # sigmoid_serve:label_rate_drift_max_ratio in the rules file (checked below)


def alert_expression(name: str) -> str:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert next(r for r in rules if r.get("record") == "sigmoid_serve:label_rate_drift_max_ratio")["expr"] == (
        f"vector({DRIFT_RATIO})"
    )
    return next(r["expr"] for r in rules if r.get("alert") == name)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model calibrated on its held-out split: its metadata carries the labels' reference rates."""
    root = tmp_path_factory.mktemp("monitored")
    write_validation(root / "val.npz")
    calibrate_model(DEMO, root / "val.npz", root / "models" / "digits" / "1" / "model.onnx")
    return root / "models"


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    _, pixels, _, digits = split_digits()
    return pixels, digits


@pytest.fixture(params=[pytest.param(1, id="1 worker", marks=pytest.mark.smoke), pytest.param(2, id="2 workers")])
def server(request: pytest.FixtureRequest, repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(repository), "WORKERS": str(request.param)})


@pytest.fixture
def prometheus(server: RunningServer) -> Iterator[RunningPrometheus]:
    yield from prometheus_scraping(server.url, rule_files=[RULES])


def send(server: RunningServer, pixels: np.ndarray) -> tuple[int, np.ndarray]:
    """Rows in requests of ROWS_PER_REQUEST to the native API: (requests sent, positives per label answered)."""
    positives = np.zeros(5, np.int64)
    requests = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for start in range(0, len(pixels), ROWS_PER_REQUEST):
            answer = client.post(
                "/models/digits/predict", json={"instances": pixels[start : start + ROWS_PER_REQUEST].tolist()}
            )
            assert answer.status_code == 200, answer.text
            positives += np.array([p["multi_hot"] for p in answer.json()["predictions"]]).sum(axis=0)
            requests += 1
    return requests, positives


def test_prometheus_stores_exactly_the_requests_and_rows_sent(
    server: RunningServer, prometheus: RunningPrometheus, held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    prometheus.wait_for_scrape()
    pixels, _ = held_out
    requests, _ = send(server, pixels)

    stored = prometheus.wait_for(
        lambda: prometheus.value('sum(sigmoid_serve_requests_total{model="digits", status="200"})'),
        lambda value: value == requests,
    )
    assert stored == requests
    assert prometheus.value('sum(sigmoid_serve_batch_rows_sum{model="digits"})') == len(pixels)
    assert prometheus.values('sigmoid_serve_model_loaded{model="digits"}', by="version") == {"1": 1.0}


def test_per_label_counts_and_drift_on_a_real_prometheus(
    server: RunningServer,
    prometheus: RunningPrometheus,
    repository: Path,
    held_out: tuple[np.ndarray, np.ndarray],
    request: pytest.FixtureRequest,
) -> None:
    metadata = read_metadata(repository / "digits" / "1" / "model.onnx")
    labels = metadata.labels
    reference = parse_reference_rates(metadata.props, labels, metadata.thresholds).positive_rates
    prometheus.wait_for_scrape()
    assert "sigmoid_serve_scored_rows_total" in httpx.get(server.url + "/metrics").text, "no per-label metrics"

    # Normal traffic: the validation rows themselves. Counts equal the answers; live rate = reference: quiet.
    pixels, digits = held_out
    _, positives = send(server, pixels)
    rows = len(pixels)
    version = '{model="digits", version="1"}'
    scored = prometheus.wait_for(
        lambda: prometheus.value(f"sum(sigmoid_serve_scored_rows_total{version})"), lambda value: value == rows
    )
    assert scored == rows
    stored = prometheus.values(f"sum by (label) (sigmoid_serve_label_positive_rows_total{version})", by="label")
    assert stored == dict(zip(labels, positives.astype(float).tolist(), strict=True))
    counted = prometheus.values(f"sum by (label) (sigmoid_serve_label_probability_count{version})", by="label")
    assert counted == dict.fromkeys(labels, float(rows))
    assert prometheus.values(f"sigmoid_serve_label_reference_positive_ratio{version}", by="label") == reference
    assert dict(zip(labels, (positives / rows).tolist(), strict=True)) == pytest.approx(reference)

    drift = alert_expression("SigmoidServeLabelRateDrift")
    ratio = prometheus.wait_for(
        lambda: prometheus.values('sigmoid_serve:label_positive_ratio:1h{model="digits"}', by="label"),
        lambda live: live == pytest.approx(reference),
    )
    assert ratio == pytest.approx(reference)
    assert prometheus.query(drift) == []

    # Shifted traffic: only handwritten zeros (even, closed loop, multiple of 3; not prime, not >= 5).
    zeros = np.repeat(pixels[digits == 0], 25, axis=0)[:900]
    _, shifted_positives = send(server, zeros)
    live = (positives + shifted_positives) / (rows + len(zeros))
    expected = {label: live[i] / reference[label] for i, label in enumerate(labels)}
    drifted = {label: r for label, r in expected.items() if not 1 / DRIFT_RATIO <= r <= DRIFT_RATIO}
    assert {"even", "prime"} <= set(drifted) and min(drifted.values()) < 1 < max(drifted.values())

    total = rows + len(zeros)
    scored = prometheus.wait_for(
        lambda: prometheus.value(f"sum(sigmoid_serve_scored_rows_total{version})"), lambda value: value == total
    )
    assert scored == total
    # The recording rules catch up within an evaluation or two: wait for them, then compare.
    seen = prometheus.wait_for(
        lambda: prometheus.values(drift, by="label"),
        lambda found: set(found) == set(drifted) and found == pytest.approx(drifted, rel=1e-6),
    )
    assert seen == pytest.approx(drifted, rel=1e-6)
    pending = prometheus.wait_for(
        lambda: prometheus.values('ALERTS{alertname="SigmoidServeLabelRateDrift", alertstate="pending"}', by="label"),
        lambda found: set(found) == set(drifted),
    )
    assert set(pending) == set(drifted)  # the shipped rule, evaluated by Prometheus: pending for its 15 minutes

    # The dashboard's per-label panel, drawn from what this Prometheus scraped (docs/assets/label-panel.png).
    picture = ARTIFACTS / f"label-panel-{request.node.callspec.params['server']}-workers.png"
    command = [sys.executable, str(RENDER), "--prometheus", prometheus.url, "--model", "digits", "--version", "1"]
    drawn = subprocess.run([*command, "--minutes", "1.5", "--output", str(picture)], capture_output=True, text=True)
    assert drawn.returncode == 0, drawn.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")

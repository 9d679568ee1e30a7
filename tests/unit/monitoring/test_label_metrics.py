"""LabelRecorder counts exactly what observing every probability one by one would, in one process and summed
over several (prometheus_client's multiprocess files, as with WORKERS > 1)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from service.telemetry.label_metrics import (
    FLUSH_SECONDS,
    PROBABILITY_BUCKETS,
    BucketIndex,
    LabelRecorder,
)
from tests.support.server import ROOT

LABELS = ["even", "prime", "at_least_5", "closed_loop", "multiple_of_3"]
THRESHOLDS = np.array([0.5, 0.3, 0.0005, 0.999, 1.0], np.float32)


def edge_probabilities() -> np.ndarray:
    """Every bucket bound and threshold, the float32 values beside them, 0, 1 and random values, in 5 columns."""
    points = [0.0, 1.0, *PROBABILITY_BUCKETS, *THRESHOLDS.tolist()]
    values = []
    for point in np.asarray(points, np.float32):
        values += [point, np.nextafter(point, np.float32(2)), np.nextafter(point, np.float32(-1))]
    rng = np.random.default_rng(7)
    values += rng.random(400).astype(np.float32).tolist()
    values += (1 / (1 + np.exp(-rng.normal(0, 8, 400)))).astype(np.float32).tolist()
    flat = np.clip(np.asarray(values, np.float32), 0, 1)
    flat = flat[: flat.size // 5 * 5]
    return np.stack([np.roll(flat, shift) for shift in range(5)], axis=1)[: flat.size]


def sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def reference_histogram(values: np.ndarray) -> CollectorRegistry:
    """The plain prometheus_client way: one observe() per value."""
    registry = CollectorRegistry()
    histogram = Histogram("probe", "reference", ["label"], buckets=PROBABILITY_BUCKETS, registry=registry)
    for column, label in enumerate(LABELS):
        for value in values[:, column].tolist():
            histogram.labels(label).observe(value)
    return registry


def assert_counts_equal_one_by_one(model: str, version: str, batches: list[np.ndarray]) -> None:
    everything = np.concatenate(batches)
    expected = reference_histogram(everything)
    assert sample("sigmoid_serve_scored_rows_total", {"model": model, "version": version}) == len(everything)
    for column, label in enumerate(LABELS):
        labels = {"model": model, "version": version, "label": label}
        positives = sum(1 for p in everything[:, column].tolist() if np.float32(p) >= THRESHOLDS[column])
        assert sample("sigmoid_serve_label_positive_rows_total", labels) == positives
        for bound in [*PROBABILITY_BUCKETS, float("inf")]:
            le = str(bound) if bound != float("inf") else "+Inf"
            want = expected.get_sample_value("probe_bucket", {"label": label, "le": le})
            assert sample("sigmoid_serve_label_probability_bucket", {**labels, "le": le}) == want, (label, le)
        assert sample("sigmoid_serve_label_probability_count", labels) == len(everything)
        want_sum = expected.get_sample_value("probe_sum", {"label": label})
        assert sample("sigmoid_serve_label_probability_sum", labels) == pytest.approx(want_sum, rel=1e-9)


def test_batches_count_exactly_as_one_observation_per_value() -> None:
    recorder = LabelRecorder("exact", 3, LABELS, THRESHOLDS)
    probabilities = edge_probabilities()
    batches = [probabilities[:1], probabilities[1:17], probabilities[17:81], probabilities[81:]]
    for batch in batches:
        recorder.record(batch)  # no event loop here: counted at once
    assert_counts_equal_one_by_one("exact", "3", batches)


def test_bucket_index_agrees_with_prometheus_rule_at_every_bound() -> None:
    values = np.concatenate([edge_probabilities().ravel(), np.array([np.nan, np.inf, 1.5, -0.0], np.float32)])
    bounds = [*PROBABILITY_BUCKETS, float("inf")]
    # Prometheus: the first bucket whose bound is >= the value; NaN in none of them, here the +Inf one.
    expected = [next((i for i, b in enumerate(bounds) if v <= b), len(bounds) - 1) for v in values.tolist()]
    assert BucketIndex(PROBABILITY_BUCKETS).of(values).tolist() == expected


def test_nan_probability_counts_as_a_row_in_the_inf_bucket_and_not_in_the_sum() -> None:
    recorder = LabelRecorder("nan", 1, LABELS, THRESHOLDS)
    batch = np.full((2, 5), 0.25, np.float32)
    batch[0, 0] = np.nan
    recorder.record(batch)
    labels = {"model": "nan", "version": "1", "label": "even"}
    assert sample("sigmoid_serve_label_probability_count", labels) == 2
    assert sample("sigmoid_serve_label_probability_bucket", {**labels, "le": "0.25"}) == 1
    assert sample("sigmoid_serve_label_probability_sum", labels) == 0.25
    assert sample("sigmoid_serve_label_positive_rows_total", labels) == 0


def test_on_an_event_loop_batches_are_kept_then_counted_by_the_timer() -> None:
    recorder = LabelRecorder("deferred", 1, LABELS, THRESHOLDS)
    batches = [edge_probabilities()[i : i + 8] for i in range(0, 64, 8)]

    async def serve() -> float:
        for batch in batches:
            recorder.record(batch)
        kept = sample("sigmoid_serve_scored_rows_total", {"model": "deferred", "version": "1"})
        for _ in range(100):  # the recorder's own timer flushes; wait for it, however slow the machine
            await asyncio.sleep(FLUSH_SECONDS / 4)
            if sample("sigmoid_serve_scored_rows_total", {"model": "deferred", "version": "1"}):
                break
        return kept

    assert asyncio.run(serve()) == 0  # nothing written per batch
    assert_counts_equal_one_by_one("deferred", "1", batches)


def test_reference_rates_become_gauges_and_forget_drops_the_version() -> None:
    recorder = LabelRecorder("gone", 2, LABELS, THRESHOLDS, {"even": 0.49, "prime": 0.0})
    recorder.record(np.full((3, 5), 0.7, np.float32))
    labels = {"model": "gone", "version": "2", "label": "even"}
    assert REGISTRY.get_sample_value("sigmoid_serve_label_reference_positive_ratio", labels) == 0.49
    assert REGISTRY.get_sample_value("sigmoid_serve_label_reference_positive_ratio", {**labels, "label": "prime"}) == 0
    assert (
        REGISTRY.get_sample_value("sigmoid_serve_label_reference_positive_ratio", {**labels, "label": "at_least_5"})
        is None
    )

    recorder.forget()
    for name in ("scored_rows_total", "label_positive_rows_total", "label_probability_count"):
        found = [s for m in REGISTRY.collect() for s in m.samples if s.name == f"sigmoid_serve_{name}"]
        assert not [s for s in found if s.labels.get("model") == "gone"], name
    assert REGISTRY.get_sample_value("sigmoid_serve_label_reference_positive_ratio", labels) is None


def test_a_reloaded_version_keeps_its_series_when_the_old_recorder_is_forgotten() -> None:
    old = LabelRecorder("reloaded", 1, LABELS, THRESHOLDS)
    new = LabelRecorder("reloaded", 1, LABELS, THRESHOLDS)  # same version, changed file: loaded before the swap
    old.record(np.full((2, 5), 0.7, np.float32))
    old.forget()
    new.record(np.full((3, 5), 0.7, np.float32))
    assert sample("sigmoid_serve_scored_rows_total", {"model": "reloaded", "version": "1"}) == 5
    new.forget()
    assert REGISTRY.get_sample_value("sigmoid_serve_scored_rows_total", {"model": "reloaded", "version": "1"}) is None


def test_wrong_width_or_unknown_reference_label_is_refused() -> None:
    recorder = LabelRecorder("width", 1, LABELS, THRESHOLDS)
    with pytest.raises(ValueError, match=r"expected \[rows, 5\]"):
        recorder.record(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="unknown label 'nope'"):
        LabelRecorder("width", 2, LABELS, THRESHOLDS, {"nope": 0.5})
    with pytest.raises(ValueError, match="5 labels but 2 thresholds"):
        LabelRecorder("width", 3, LABELS, [0.5, 0.5])


WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from service.telemetry.label_metrics import MULTIPROCESS, LabelRecorder
    assert MULTIPROCESS
    batches = [np.asarray(b, np.float32) for b in json.loads(sys.stdin.read())]
    recorder = LabelRecorder("shared", 4, {labels}, {thresholds}, {{"even": 0.25}})
    for batch in batches:
        recorder.record(batch)
    """
)
SCRAPE = textwrap.dedent(
    """
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
    """
)


def test_several_workers_sum_in_the_multiprocess_files(tmp_path) -> None:  # noqa: ANN001
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    probabilities = edge_probabilities()
    shares = [[probabilities[:1], probabilities[1:40]], [probabilities[40:]]]
    code = WORKER.format(labels=LABELS, thresholds=THRESHOLDS.tolist())
    for share in shares:
        stdin = json.dumps([batch.tolist() for batch in share])
        subprocess.run([sys.executable, "-c", code], input=stdin, env=env, cwd=ROOT, check=True, text=True)
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, cwd=ROOT, check=True, text=True, capture_output=True
    ).stdout
    # Load what both workers wrote into this process's registry shape, then compare as for one process.
    from prometheus_client.parser import text_string_to_metric_families

    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    everything = np.concatenate([batch for share in shares for batch in share])
    expected = reference_histogram(everything)
    base = (("model", "shared"), ("version", "4"))
    assert values[("sigmoid_serve_scored_rows_total", base)] == len(everything)
    for column, label in enumerate(LABELS):
        labelled = (("label", label), *base)
        positives = int(np.count_nonzero(everything[:, column] >= THRESHOLDS[column]))
        assert values.get(("sigmoid_serve_label_positive_rows_total", labelled), 0) == positives
        for bound in [*PROBABILITY_BUCKETS, float("inf")]:
            le = str(bound) if bound != float("inf") else "+Inf"
            key = ("sigmoid_serve_label_probability_bucket", tuple(sorted((*labelled, ("le", le)))))
            assert values[key] == expected.get_sample_value("probe_bucket", {"label": label, "le": le})
    reference = ("sigmoid_serve_label_reference_positive_ratio", (("label", "even"), *base))
    assert values[reference] == 0.25  # set by both workers, reported once

"""Prometheus metrics: of requests (from the request record, `request_record.py`), batches and model loads.

With WORKERS > 1 every worker writes its metrics to Prometheus' multiprocess files in SHARED_DIR
(`service/server/workers.py`) and a scrape, whichever worker answers it, sums them: counters and histograms
over all workers, queue rows summed over the live workers, a version counted as loaded while any worker
serves it. With one worker the same metrics live in memory.

Hot path cost: the request and batch observations are tallied in plain numbers and written to prometheus_client
once per event-loop step (`tally.py`); the queue depth is set once per batch, and loaded versions on load and
unload.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

from ..core.batcher import BatchReport
from ..core.model import LoadedModel
from ..core.model_state import ModelEvent
from ..core.shared_control import EVENTS_DIR
from .label_metrics import LabelRecorder
from .tally import STEP, CounterTally, HistogramTally

if TYPE_CHECKING:
    from .request_record import RequestRecord

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them
PREFIX = "sigmoid_serve"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter(
    f"{PREFIX}_requests", "Requests answered, by model, protocol and status.", ["model", "protocol", "status"]
)
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Time from request start to the end of the response.",
    ["model", "protocol"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    f"{PREFIX}_queue_wait_seconds", "Time a request waited in the batch queue.", ["model"], buckets=LATENCY_BUCKETS
)
INFERENCE_SECONDS = Histogram(
    f"{PREFIX}_inference_duration_seconds", "Time of one ONNX Runtime call.", ["model"], buckets=LATENCY_BUCKETS
)
BATCH_ROWS = Histogram(f"{PREFIX}_batch_rows", "Rows per ONNX Runtime call.", ["model"], buckets=ROW_BUCKETS)
MODEL_LOADS = Counter(f"{PREFIX}_model_loads", "Model version load attempts, by outcome.", ["model", "outcome"])
QUEUE_ROWS = Gauge(
    f"{PREFIX}_queue_rows",
    "Rows waiting in the batch queue (as each batch ends; summed over workers).",
    ["model"],
    multiprocess_mode="livesum",
)
MODEL_LOADED = Gauge(
    f"{PREFIX}_model_loaded",
    "1 for each model version being served (by any worker), 0 once no longer served.",
    ["model", "version"],
    multiprocess_mode="livemax",
)
# Whether prometheus_client keeps values in multiprocess files: it decided when it was imported, from
# PROMETHEUS_MULTIPROC_DIR (set for the workers by service/server/workers.py).
MULTIPROCESS = values.ValueClass is not values.MutexValue


class BatchMetrics:
    """Handed to one model version's Batcher (through `batch_metrics_for`); records each ONNX Runtime call."""

    def __init__(self, model: str) -> None:
        self._wait = HistogramTally(QUEUE_WAIT_SECONDS.labels(model))
        self._run = HistogramTally(INFERENCE_SECONDS.labels(model))
        self._rows = HistogramTally(BATCH_ROWS.labels(model))
        self._queued = QUEUE_ROWS.labels(model)

    def batch_done(self, report: BatchReport) -> None:
        self._rows.observe(report.rows)
        self._run.observe(report.run_seconds)
        observe_wait = self._wait.observe
        for wait in report.waits:
            observe_wait(wait)
        self._queued.set(report.queued_rows)


class ModelVersionMetrics:
    """All that is recorded of one served model version's batches: timings and sizes, and per label."""

    def __init__(self, model: LoadedModel, per_label: bool) -> None:
        self.batches = BatchMetrics(model.name)
        self.labels = None
        if per_label:
            rates = model.reference_rates.positive_rates if model.reference_rates else None
            self.labels = LabelRecorder(model.name, model.version, model.labels, model.thresholds, rates)
            # Forgotten when this version is unloaded; a version reloaded from a changed file gets its new
            # recorder before the old one goes, so the oldest is the one to forget.
            _label_recorders.setdefault((model.name, model.version), []).append(self.labels)

    def batch_done(self, report: BatchReport) -> None:
        self.batches.batch_done(report)
        if self.labels is not None:
            self.labels.record(report.probabilities)


_label_recorders: dict[tuple[str, int], list[LabelRecorder]] = {}


def metrics_for(per_label: bool) -> Callable[[LoadedModel], ModelVersionMetrics]:
    """The registry's batch observer factory: what to record of each model version's batches."""
    return lambda model: ModelVersionMetrics(model, per_label)


def flush_label_metrics() -> None:
    """At shutdown: count what the per-label recorders and the tallies still keep."""
    STEP.write()
    for recorders in _label_recorders.values():
        for recorder in recorders:
            recorder.flush()


def model_events(shared_dir: Path | None) -> Callable[[ModelEvent], None]:
    """The registry's load, rejection and unload events, as metrics: the registry itself knows no metrics.

    With several workers each loads every model; a load attempt is counted once per server all the same: the
    first worker to claim it (a file created with O_EXCL in SHARED_DIR/events/, which an earlier run's server
    cleared) counts it, the others do not."""
    claims = shared_dir / EVENTS_DIR if shared_dir is not None else None
    seen: set[str] = set()

    def on_model_event(event: ModelEvent) -> None:
        if event.name not in seen:
            # Both outcomes exist from the model's first event on, at 0: a later failure is then an increase that
            # increase() sees. (A series born at 1 is not one: the alert rule also counts a new series.)
            seen.add(event.name)
            MODEL_LOADS.labels(event.name, "success")
            MODEL_LOADS.labels(event.name, "failure")
        if event.kind in ("loaded", "rejected") and (claims is None or _first_to_claim(claims, event)):
            MODEL_LOADS.labels(event.name, "success" if event.kind == "loaded" else "failure").inc()
        _on_loaded_or_unloaded(event)

    return on_model_event


def _first_to_claim(claims: Path, event: ModelEvent) -> bool:
    key = hashlib.sha256(f"{event.kind}\0{event.name}\0{event.version}\0{event.attempt}".encode()).hexdigest()
    try:
        claims.mkdir(exist_ok=True)
        os.close(os.open(claims / key, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError:  # a full or read-only folder: count it here rather than not at all
        return True
    return True


def _on_loaded_or_unloaded(event: ModelEvent) -> None:
    if event.kind in ("loaded", "unloaded"):
        MODEL_LOADED.labels(event.name, str(event.version)).set(1 if event.kind == "loaded" else 0)
        if event.kind == "unloaded":
            QUEUE_ROWS.labels(event.name).set(0)  # its batcher has run what was queued
            recorders = _label_recorders.get((event.name, event.version))
            if recorders:
                recorders.pop(0).forget()
                if not recorders:
                    del _label_recorders[(event.name, event.version)]


def worker_gone(pid: int | None = None) -> None:
    """A worker (this one by default) shut down or died: its live gauges (queue rows, loaded versions) stop
    counting in the sums. Its counters stay: totals do not go down."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid)


GRPC = "grpc"  # the protocol label of gRPC calls; their status label is the gRPC code's name (OK, NOT_FOUND, ...)


def protocol_of(path: str) -> str:
    if path.startswith("/v2/"):
        return "v2"
    if path.startswith("/v1/"):
        return "tfserving"
    return "native"


# Tallies of the labelled children by (model, protocol, status): `labels()` costs more than the increment itself.
# Bounded: models are names the registry resolved, protocols and statuses are few.
_request_series: dict[tuple[str, str, int | str], tuple[CounterTally, HistogramTally]] = {}
_request_durations: dict[tuple[str, str], HistogramTally] = {}


def observe_request(record: RequestRecord, protocol: str, status: int | str, seconds: float) -> None:
    key = (record.model, protocol, status)
    series = _request_series.get(key)
    if series is None:
        durations = _request_durations.get(key[:2])
        if durations is None:
            durations = _request_durations[key[:2]] = HistogramTally(REQUEST_SECONDS.labels(record.model, protocol))
        series = _request_series[key] = CounterTally(REQUESTS.labels(record.model, protocol, str(status))), durations
    series[0].inc()
    series[1].observe(seconds)


class Readiness:
    """sigmoid_serve_ready: 1 when /health/ready answers 200 (every model loaded, not draining), else 0, as the
    worker answering the scrape sees it (as a probe would). The fleet rules count ready replicas with it, which
    `up` (answers at all) and model_loaded (a draining replica still serves) cannot tell."""

    ready = False

    def collect(self) -> list[GaugeMetricFamily]:
        help_text = "1 when /health/ready answers 200 (every model loaded, not draining), else 0."
        return [GaugeMetricFamily(f"{PREFIX}_ready", help_text, value=int(self.ready))]


READINESS = Readiness()
REGISTRY.register(READINESS)


def exposition(ready: bool) -> bytes:
    """The server's metrics in Prometheus' text format, every worker's summed (CONTENT_TYPE_LATEST); `ready`: whether
    this worker's readiness is 200 now."""
    READINESS.ready = ready
    STEP.write()  # this worker's requests and batches so far
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(READINESS)
        return generate_latest(registry)
    return generate_latest(REGISTRY)

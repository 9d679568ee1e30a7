"""Prometheus metrics and the per-request record the access log and the request metrics are made from.

Metrics are per process: with WORKERS > 1 every uvicorn worker has its own registry and its own counters,
and a scrape sees the one worker that answered it. Scale with replicas of one worker each (the
recommended deployment) to get exact numbers.

Hot path cost: one contextvar write per inference (`note_inference`), one histogram observation per
batch and per request; queue depth and loaded versions are read from the model registry at scrape
time, so nothing is updated per request for them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .core.registry import ModelRegistry

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them
PREFIX = "sigmoid_serve"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter(
    f"{PREFIX}_requests", "HTTP requests answered, by model, protocol and status.", ["model", "protocol", "status"]
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


@dataclass
class RequestRecord:
    """Filled while a request runs; read by the request middleware when it ends."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    model: str = ""  # only names the registry resolved: never an unknown name from a URL (label cardinality)
    version: int | None = None
    rows: int | None = None
    error: str = ""


current_request: ContextVar[RequestRecord | None] = ContextVar("current_request", default=None)


def note_inference(model: str, version: int, rows: int | None = None) -> None:
    """Called by the inference core once a request has a resolved model and validated rows."""
    record = current_request.get()
    if record is not None:
        record.model, record.version, record.rows = model, version, rows


def current_request_id() -> str | None:
    record = current_request.get()
    return record.request_id if record else None


class BatchObserver:
    """Handed to one model's Batcher; records each ONNX Runtime call."""

    def __init__(self, model: str) -> None:
        self._wait = QUEUE_WAIT_SECONDS.labels(model)
        self._run = INFERENCE_SECONDS.labels(model)
        self._rows = BATCH_ROWS.labels(model)

    def batch_done(self, rows: int, waits: list[float], run_seconds: float) -> None:
        self._rows.observe(rows)
        self._run.observe(run_seconds)
        for wait in waits:
            self._wait.observe(wait)


def model_load(model: str, ok: bool) -> None:
    """One attempt to load a model version (from the registry's "loaded" / "rejected" events)."""
    MODEL_LOADS.labels(model, "success" if ok else "failure").inc()


class RegistryCollector(Collector):
    """Queue depth and loaded versions, read from the registry at scrape time."""

    def __init__(self) -> None:
        self.registry: ModelRegistry | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(f"{PREFIX}_queue_rows", "Rows waiting in the batch queue.", labels=["model"])
        loaded = GaugeMetricFamily(
            f"{PREFIX}_model_loaded", "1 for each model version being served.", labels=["model", "version"]
        )
        models = self.registry.models if self.registry else {}
        for name, state in list(models.items()):
            served = state.served
            if served is not None:
                depth.add_metric([name], served.batcher.queued_rows)
                loaded.add_metric([name, str(served.model.version)], 1)
        yield depth
        yield loaded


REGISTRY_COLLECTOR = RegistryCollector()
REGISTRY.register(REGISTRY_COLLECTOR)


def watch(registry: ModelRegistry) -> None:
    REGISTRY_COLLECTOR.registry = registry
    listeners = getattr(registry, "listeners", None)
    if listeners is not None and _on_model_event not in listeners:
        # Load outcomes come from the registry's events: the registry itself needs no metrics code.
        listeners.append(_on_model_event)


def _on_model_event(event: object) -> None:
    kind = getattr(event, "kind", "")
    if kind in ("loaded", "rejected"):
        model_load(event.name, ok=kind == "loaded")


def protocol_of(path: str) -> str:
    if path.startswith("/v2/"):
        return "v2"
    if path.startswith("/v1/"):
        return "tfserving"
    return "native"


# Labelled children by (model, protocol, status): `labels()` costs more than the increment itself. Bounded:
# models are names the registry resolved, protocols and statuses are few.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(record: RequestRecord, protocol: str, status: int, seconds: float) -> None:
    key = (record.model, protocol, status)
    children = _request_children.get(key)
    if children is None:
        children = REQUESTS.labels(record.model, protocol, str(status)), REQUEST_SECONDS.labels(record.model, protocol)
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


router = APIRouter()


# Not in the OpenAPI document: an operations endpoint for Prometheus, not part of the client API.
@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this worker process (text exposition format)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

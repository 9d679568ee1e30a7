"""create_app(settings): assembles the data plane, its observers and the protocol adapters; loads and drains.

This is the one place where the environment's settings meet the rest: the core gets the few values it needs, the
metrics and the request record are wired in as observers, and the adapters, middlewares and gRPC server get theirs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .contract.version import VERSION
from .core.batcher import BatchObserver, BatchReport
from .core.coordination import LocalCoordination, SharedCoordination, WorkerCoordination
from .core.dataplane import DataPlane
from .core.model import LoadedModel
from .core.model_state import RepositoryConfig
from .core.registry import ModelRegistry
from .core.statistics import Statistics
from .core.watcher import RepositoryWatcher
from .http import metrics_endpoint
from .http.docs import add_docs
from .http.error_handlers import add_error_handlers
from .http.front_door import FrontDoor, ServiceApp
from .http.openapi import document_errors_and_security
from .protocols import native, tfserving
from .protocols.http_adapter import HttpAdapterConfig
from .protocols.v2 import repository as v2_repository
from .protocols.v2 import rest as v2_rest
from .protocols.v2 import triton as v2_triton
from .server.lifecycle import drain_on_signal
from .settings import Settings, get_settings
from .telemetry import metrics
from .telemetry.request_record import note_inference

log = logging.getLogger("service")


def build_data_plane(settings: Settings) -> tuple[DataPlane, WorkerCoordination]:
    """The data plane over the repository, with metrics, statistics and the request record listening."""
    statistics = Statistics()
    metrics_for = metrics.metrics_for(per_label=settings.label_metrics)

    def batch_observers_for(model: LoadedModel) -> BatchObserver:
        return _BatchObservers(metrics_for(model), statistics.observer_for(model.name, model.version))

    workers: WorkerCoordination = LocalCoordination()
    if settings.shared_dir:
        workers = SharedCoordination(settings.shared_dir, settings.workers, on_dead=metrics.worker_gone)
    registry = ModelRegistry(
        RepositoryConfig(
            root=settings.model_repository,
            intra_op_threads=settings.ort_intra_op_threads,
            max_batch_size=settings.max_batch_size,
            max_batch_delay_ms=settings.max_batch_delay_ms,
            inline_run_us=settings.inline_run_us,
            max_queue_rows=settings.max_queue_rows,
        ),
        listeners=[metrics.model_events(settings.shared_dir)],
        batch_observer_for=batch_observers_for,
        workers=workers,
    )
    plane = DataPlane(
        registry,
        request_timeout_ms=settings.request_timeout_ms,
        max_batch_size=settings.max_batch_size,
        max_text_chars=settings.max_text_chars,
        default_model=settings.default_model,
        readiness_checks=[workers.not_ready_reasons],
        on_request=note_inference,
        statistics=statistics,
    )
    return plane, workers


class _BatchObservers:
    """Several observers of one batcher, told in turn."""

    def __init__(self, *observers: BatchObserver) -> None:
        self._observers = observers

    def batch_done(self, report: BatchReport) -> None:
        for observer in self._observers:
            observer.batch_done(report)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    plane, workers = build_data_plane(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in the background so /health/live answers at once and /health/ready tells the progress.
        registry = plane.registry
        watcher = RepositoryWatcher(registry, settings.model_poll_seconds)
        grpc_server = None
        if settings.grpc_port:
            # Imported here, only when gRPC is on: its protobuf messages cannot share a process with another copy of
            # them (tritonclient's, in the test process that builds this app in-process).
            from .server.grpc_server import GrpcConfig, GrpcServer

            config = GrpcConfig(
                settings.host,
                settings.grpc_port,
                settings.max_body_bytes,
                settings.shutdown_grace_seconds,
                settings.api_key_list(),
                settings.access_log,
            )
            grpc_server = GrpcServer(plane, config, app.title, app.version)
        watcher.start()
        if workers.others_serving():
            # A worker that joins a server already serving (the replacement of one that died) takes calls only once
            # it has loaded: uvicorn listens after this startup, and the kernel would otherwise hand it requests it
            # could only answer 503 while the other workers serve them.
            await watcher.first_load.wait()
        if grpc_server is not None:
            await grpc_server.start()
        on_drain = grpc_server.begin_stop if grpc_server else None
        loop = asyncio.get_running_loop()
        restore_signals = drain_on_signal(plane, settings.shutdown_delay_seconds, loop, on_drain)
        yield
        plane.draining = True
        restore_signals()
        if grpc_server is not None:
            # Calls in flight finish (within SHUTDOWN_GRACE_SECONDS) while the batchers still run.
            await grpc_server.stop()
        await watcher.stop()
        await registry.close()
        metrics.flush_label_metrics()
        metrics.worker_gone()

    app = ServiceApp(  # FastAPI, its requests straight to the front door when nothing else is configured
        title="sigmoid-serve",
        version=VERSION,
        description="Per-label probabilities and multi-hot predictions from Keras multi-label models "
        "exported to ONNX (logits + appended Sigmoid), served with ONNX Runtime.",
        lifespan=lifespan,
        docs_url=None,  # service/http/docs.py serves /docs and /redoc without a CDN
        redoc_url=None,
        redirect_slashes=False,  # a trailing slash is served as without it (http/middleware.py), never redirected
    )
    adapters = app.state.adapters = HttpAdapterConfig(plane, settings.max_body_bytes)
    lean_routers = [native.predict_router, v2_rest.infer_router, tfserving.predict_router]
    for router in lean_routers:
        app.include_router(router)
    app.include_router(native.router)
    app.include_router(v2_triton.router)  # ahead of v2_rest.router: /v2/models/stats is not a model named "stats"
    app.include_router(v2_rest.router)
    app.include_router(v2_repository.router)
    app.include_router(tfserving.router)
    app.include_router(metrics_endpoint.router)
    add_docs(app)
    add_error_handlers(app)
    keys = settings.api_key_list()
    if keys:
        log.info("API keys required (%d configured)", len(keys))
    app.add_middleware(
        FrontDoor,  # request ids, metrics, logs, CORS, API keys, deadlines, the lean routes: the one middleware
        adapters=adapters,
        routes=[route for router in lean_routers for route in router.routes],
        api_keys=keys,
        cors_origins=settings.cors_origin_list(),
        access_log=settings.access_log,
    )
    document_errors_and_security(app, bool(keys))
    _tune_gc()
    return app


def _tune_gc() -> None:
    """Fewer cyclic GC passes: a JSON tensor is thousands of short-lived lists, and each pass over the requests
    in flight cost more than parsing them (docs/performance). What exists at start-up (FastAPI, pydantic, ONNX
    Runtime bindings) is frozen out of every pass."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)

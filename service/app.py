"""create_app(settings): assembles the data plane, its observers and the protocol adapters; loads and drains.

This is the one place where the environment's settings meet the core: the core gets the few values it needs,
and the metrics and the request record are wired in as observers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from . import observability
from .auth import add_api_keys
from .contract.version import VERSION
from .core.batcher import BatchObserver, BatchReport
from .core.dataplane import DataPlane
from .core.errors import ServiceError
from .core.model import LoadedModel
from .core.registry import ModelRegistry, RepositoryConfig
from .core.statistics import Statistics
from .core.watcher import RepositoryWatcher
from .docs import add_docs
from .lifecycle import drain_on_signal
from .middleware import RequestContextMiddleware, add_cors
from .openapi_doc import document_errors_and_security
from .protocols import native, tfserving, v2, v2_repository, v2_triton
from .protocols.fast_lane import FastLaneMiddleware
from .protocols.http import client_gone_response, error_response, json_response
from .protocols.request_deadline import RequestDeadlineMiddleware
from .request_record import note_inference
from .settings import Settings, get_settings
from .state import ServiceState
from .worker_group import WorkerRoster

log = logging.getLogger("service")


def build_state(settings: Settings) -> ServiceState:
    """The data plane over the repository, with metrics, statistics and the request record listening."""
    statistics = Statistics()
    metrics_for = observability.metrics_for(per_label=settings.label_metrics)

    def batch_observers_for(model: LoadedModel) -> BatchObserver:
        return _BatchObservers(metrics_for(model), statistics.observer_for(model.name, model.version))

    registry = ModelRegistry(
        RepositoryConfig(
            root=settings.model_repository,
            intra_op_threads=settings.ort_intra_op_threads,
            max_batch_size=settings.max_batch_size,
            max_batch_delay_ms=settings.max_batch_delay_ms,
            inline_run_us=settings.inline_run_us,
            max_queue_rows=settings.max_queue_rows,
            shared_dir=settings.shared_dir,
            workers=settings.workers,
        ),
        listeners=[observability.model_events(settings.shared_dir)],
        batch_observer_for=batch_observers_for,
    )
    roster = None
    if settings.shared_dir:
        roster = WorkerRoster(settings.shared_dir, settings.workers, on_dead=observability.worker_gone)
    plane = DataPlane(
        registry,
        request_timeout_ms=settings.request_timeout_ms,
        max_batch_size=settings.max_batch_size,
        max_text_chars=settings.max_text_chars,
        default_model=settings.default_model,
        readiness_checks=[roster.not_ready_reasons] if roster else [],
        on_request=note_inference,
        statistics=statistics,
    )
    return ServiceState(settings, plane, roster)


class _BatchObservers:
    """Several observers of one batcher, told in turn."""

    def __init__(self, *observers: BatchObserver) -> None:
        self._observers = observers

    def batch_done(self, report: BatchReport) -> None:
        for observer in self._observers:
            observer.batch_done(report)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in the background so /health/live answers at once and /health/ready tells the progress.
        registry = state.plane.registry
        watcher = RepositoryWatcher(registry, settings.model_poll_seconds)
        grpc_server = None
        if settings.grpc_port:
            # Imported here, only when gRPC is on: its protobuf messages cannot share a process with another copy of
            # them (tritonclient's, in the test process that builds this app in-process).
            from .grpc_server import GrpcServer

            grpc_server = GrpcServer(state, app.title, app.version)
        watcher.start()
        if state.roster is not None and state.roster.others_serving():
            # A worker that joins a server already serving (the replacement of one that died) takes calls only once
            # it has loaded: uvicorn listens after this startup, and the kernel would otherwise hand it requests it
            # could only answer 503 while the other workers serve them.
            await watcher.first_load.wait()
        if grpc_server is not None:
            await grpc_server.start()
        on_drain = grpc_server.begin_stop if grpc_server else None
        restore_signals = drain_on_signal(state, asyncio.get_running_loop(), on_drain)
        yield
        state.plane.draining = True
        restore_signals()
        if grpc_server is not None:
            # Calls in flight finish (within SHUTDOWN_GRACE_SECONDS) while the batchers still run.
            await grpc_server.stop()
        await watcher.stop()
        await registry.close()
        observability.flush_label_metrics()
        observability.worker_gone()

    app = FastAPI(
        title="sigmoid-serve",
        version=VERSION,
        description="Per-label probabilities and multi-hot predictions from Keras multi-label models "
        "exported to ONNX (logits + appended Sigmoid), served with ONNX Runtime.",
        lifespan=lifespan,
        docs_url=None,  # service/docs.py serves /docs and /redoc without a CDN
        redoc_url=None,
        redirect_slashes=False,  # a trailing slash is served as without it (service/middleware.py), never redirected
    )
    app.state.service = state
    lean_routers = [native.predict_router, v2.infer_router, tfserving.predict_router]
    for router in lean_routers:
        app.include_router(router)
    app.include_router(native.router)
    app.include_router(v2_triton.router)  # ahead of v2.router: /v2/models/stats is not a model named "stats"
    app.include_router(v2.router)
    app.include_router(v2_repository.router)
    app.include_router(tfserving.router)
    app.add_middleware(FastLaneMiddleware, routes=[route for router in lean_routers for route in router.routes])
    app.add_middleware(RequestDeadlineMiddleware)
    add_docs(app)
    _add_error_handlers(app)
    _add_hardening(app, settings)
    _tune_gc()
    return app


def _add_hardening(app: FastAPI, settings: Settings) -> None:
    """Metrics, API keys, CORS, request ids and logs. The last middleware added is the outermost."""
    app.include_router(observability.router)
    keys = settings.api_key_list()
    add_api_keys(app, keys)
    add_cors(app, settings.cors_origin_list())
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    document_errors_and_security(app, bool(keys))


def _tune_gc() -> None:
    """Fewer cyclic GC passes: a JSON tensor is thousands of short-lived lists, and each pass over the requests
    in flight cost more than parsing them (CNN 64x64x3 JSON: 2.6 -> 1.7 ms CPU per request at 64 in flight).
    What exists at start-up (FastAPI, pydantic, ONNX Runtime bindings) is frozen out of every pass."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _add_error_handlers(app: FastAPI) -> None:
    """Errors raised in routes, as JSON. Anything unexpected is answered by RequestContextMiddleware (500)."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return json_response({"error": problems}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return json_response({"error": str(exc.detail)}, exc.status_code, exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        return client_gone_response()

"""The data plane: the one protocol-free API every adapter calls (native, v2 REST, TF Serving REST, v2 gRPC).

Live, ready, model metadata, infer and repository control, each with one meaning:
- live: the process answers; nothing else.
- ready (server): not stopping, the startup load done, at least one model, every model with a version on disk
  served (or unloaded on purpose), and whatever else was handed in (e.g. every worker loaded). As Triton's strict
  readiness: a model that should serve and does not takes the server out of rotation, with the reason. What does
  not stop serving (a rejected newer version, ignored files, an unreadable folder of a model without versions) is
  listed as a problem of a ready server.
- ready (model): served by this process and the server not stopping; with a version, that version is the one served.
Lookups never touch the disk. Errors are the typed ones of `errors.py`; each protocol maps them once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..contract.metadata import CALIBRATION, OPTIMIZATION, json_object, provenance
from ..contract.repository import scan_repository
from .deadline import request_deadline
from .deadline_watch import DeadlineWatch
from .errors import DeadlineExceeded, ModelNotFound, ModelNotReady
from .inputs import columns_from_instances, to_arrays
from .model_state import ModelState, ServedModel
from .registry import ModelRegistry
from .statistics import Statistics, VersionStatistics
from .text_inference import infer_text
from .types import (
    DRAINING,
    FAILED,
    LOADING,
    PENDING,
    READY,
    UNLOADED,
    BatchingPolicy,
    InferenceRequest,
    InferenceResult,
    ModelDescription,
    ModelHandle,
    Readiness,
)

# Told once a request has resolved its model (rows None) and once its rows are validated: the request log and
# metrics use it. Must be cheap: it runs on the request path.
RequestObserver = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: int | None
    state: str  # one of types.MODEL_STATES
    reason: str


class DataPlane:
    def __init__(
        self,
        registry: ModelRegistry,
        *,
        request_timeout_ms: float = 0.0,
        max_batch_size: int = 64,
        max_text_chars: int = 100_000,
        default_model: str = "",
        readiness_checks: Sequence[Callable[[], list[str]]] = (),
        on_request: RequestObserver | None = None,
        statistics: Statistics | None = None,
    ) -> None:
        self.registry = registry
        self.request_timeout_ms = request_timeout_ms
        self.max_batch_size = max_batch_size
        self.max_text_chars = max_text_chars
        self.default_model = default_model
        self.draining = False  # set on SIGTERM: readiness turns false while requests in flight finish
        self._readiness_checks = list(readiness_checks)
        self._on_request = on_request
        self.statistics = statistics or Statistics()  # also the batchers' observers, when app.py wires them so
        self._deadlines = DeadlineWatch()  # shared timers for the requests' deadlines

    # -- health ------------------------------------------------------------------------------------------

    def live(self) -> bool:
        return True

    def ready(self) -> Readiness:
        served = {n: s.served.model.version for n, s in self.registry.models.items() if s.served}
        reasons = self._not_ready_reasons()
        return Readiness(not reasons, reasons, served, self._problems())

    def model_ready(self, name: str, version: int | None = None) -> bool:
        """ModelNotFound for an unknown model, or a version that is not on disk."""
        state = self.registry.state(name)
        if version is not None and version not in state.versions:
            raise ModelNotFound(f"model {name!r} has no version {version}; versions: {state.versions}")
        served = state.served
        return served is not None and not self.draining and (version is None or served.model.version == version)

    def _not_ready_reasons(self) -> list[str]:
        if self.draining:
            return ["shutting down"]
        registry = self.registry
        if registry.loading:
            return ["models are loading"]
        if not any(s.versions for s in registry.models.values()):
            found = registry.repository_error or f"no model found in {registry.config.root}"
            return [f"{found} (expected NAME/VERSION/model.onnx)"]
        # A rejected NEW version does not count (the previous one serves; its metadata says why), nor does a model
        # unloaded through the repository API (that was asked for).
        reasons = [
            f"{s.name}: {s.error or 'not loaded'}"
            for s in registry.models.values()
            if not s.ready and not s.unloaded and s.versions
        ]
        for check in self._readiness_checks:
            if reasons:
                break
            reasons = check()
        return reasons

    def _problems(self) -> list[str]:
        """What is wrong in the repository but does not stop serving."""
        registry = self.registry
        problems = [f"cannot use the repository: {registry.repository_error}"] if registry.repository_error else []
        problems += [f"ignored: {entry}" for entry in registry.ignored]
        for state in registry.models.values():
            if state.error and (state.ready or not state.versions):
                problems.append(f"{state.name}: {state.error}")
            problems += [f"{state.name}: ignored: {entry}" for entry in state.ignored]
        return problems

    # -- metadata ----------------------------------------------------------------------------------------

    def describe(self, name: str, version: int | None = None) -> ModelDescription:
        """One model, served or not; with a version, ModelNotFound unless it is the one served."""
        state = self.registry.state(name)
        if version is not None and (state.served is None or state.served.model.version != version):
            served = state.served.model.version if state.served else None
            raise ModelNotFound(f"model {name!r} version {version} is not served; served version: {served}")
        return self._description(state)

    def describe_all(self) -> list[ModelDescription]:
        return [self._description(state) for state in self.registry.models.values()]

    def _description(self, state: ModelState) -> ModelDescription:
        model = state.served.model if state.served else None
        if model is not None:
            status = DRAINING if self.draining else READY
        elif state.unloaded:
            status = UNLOADED
        else:
            status = FAILED if state.error or not state.versions else LOADING
        return ModelDescription(
            name=state.name,
            state=status,
            version=model.version if model else (state.versions[-1] if state.versions else None),
            versions=list(state.versions),
            labels=list(model.labels) if model else [],
            thresholds=model.thresholds.tolist() if model else [],
            inputs=list(model.inputs) if model else [],
            provenance=provenance(model.metadata) if model else {},
            reason="unloaded" if state.unloaded else state.error,
            ignored=list(state.ignored),
            reference_rates=dict(model.reference_rates.positive_rates) if model and model.reference_rates else None,
            calibration=json_object(model.metadata, CALIBRATION) if model else None,
            optimization=json_object(model.metadata, OPTIMIZATION) if model else None,
            input_aliases=dict(model.file.input_aliases) if model else {},
            text_rules=model.file.text_rules() if model else {},
        )

    # -- inference ---------------------------------------------------------------------------------------

    def lookup(self, name: str | None, version: int | None = None) -> ModelHandle:
        """The served version of a model (None: the default model). The request keeps it to the end: a hot swap
        meanwhile does not touch it."""
        if name is None:
            name = self.default_model_name()
        state = self.registry.state(name)
        served = state.served
        if served is None:
            why = "unloaded through the repository API" if state.unloaded else state.error or "still loading"
            raise ModelNotReady(f"model {name!r} is not loaded: {why}")
        if version is not None and version != served.model.version:
            raise ModelNotFound(
                f"model {name!r} version {version} is not served; served version: {served.model.version}"
            )
        return served.handle

    def batching(self) -> BatchingPolicy:
        config = self.registry.config
        return BatchingPolicy(config.max_batch_size, config.max_batch_delay_ms, config.max_queue_rows)

    def default_model_name(self) -> str:
        if self.default_model:
            return self.default_model
        if len(self.registry.models) == 1:
            return next(iter(self.registry.models))
        raise ModelNotFound(
            f"no default model: the repository holds {sorted(self.registry.models)}; set DEFAULT_MODEL "
            "or call /models/{name}/predict"
        )

    async def infer(self, handle: ModelHandle, request: InferenceRequest) -> InferenceResult:
        arrived_at = request.arrived_at if request.arrived_at is not None else time.monotonic()
        served: ServedModel = handle.served
        model = served.model
        counters = self.statistics.of(model.name, model.version)
        try:
            result = await self._infer(served, request, arrived_at)
        except Exception:
            counters.request_done(time.monotonic() - arrived_at, None, failed=True)
            raise
        counters.request_done(time.monotonic() - arrived_at, result.rows, failed=False)
        return result

    async def _infer(self, served: ServedModel, request: InferenceRequest, arrived_at: float) -> InferenceResult:
        deadline = request_deadline(arrived_at, self.request_timeout_ms, request.timeout_ms)
        model = served.model
        if self._on_request is not None:
            self._on_request(model.name, model.version, None)
        thresholds = model.resolve_thresholds(request.threshold)
        if request.instances is not None:
            columns = columns_from_instances(model.name, model.inputs, request.instances)
        else:
            columns = request.inputs or {}
        if model.text_inputs is None:
            arrays = to_arrays(model.name, model.inputs, columns, self.max_batch_size, request.may_hold_booleans)
            rows = next(iter(arrays.values())).shape[0]
            work = served.batcher.submit(arrays, rows)
        else:
            text_rows = model.text_inputs.read(model.name, columns, self.max_batch_size, self.max_text_chars)
            rows = text_rows.rows
            work = infer_text(served, text_rows)
        if self._on_request is not None:
            self._on_request(model.name, model.version, rows)
        if deadline is None:
            probabilities, logits = await work
        else:
            remaining = deadline.remaining()
            if remaining <= 0:
                work.close()  # never started: nothing was queued
                raise _missed(deadline.timeout_ms)
            # On expiry the submission is cancelled: the batcher drops its rows if they have not run yet.
            watched = self._deadlines.watch(remaining)
            try:
                probabilities, logits = await work
            except asyncio.CancelledError:
                if self._deadlines.expired(watched):
                    raise _missed(deadline.timeout_ms) from None
                raise
            finally:
                self._deadlines.release(watched)
        return InferenceResult(model.name, model.version, model.labels, probabilities, logits, thresholds)

    def version_statistics(self, name: str | None = None, version: int | None = None) -> list[VersionStatistics]:
        """The served versions' statistics (every model's when name is None); ModelNotFound for an unknown model
        or a version that is not the one served."""
        if name is None:
            served = [s.served.model for s in self.registry.models.values() if s.served]
        else:
            served = [self.lookup(name, version).served.model]
        return [self.statistics.of(model.name, model.version) for model in sorted(served, key=lambda m: m.name)]

    # -- repository --------------------------------------------------------------------------------------

    async def repository_index(self) -> list[IndexEntry]:
        """Every model on disk or known, by name: what serves, what does not and why."""
        scan = await asyncio.to_thread(scan_repository, self.registry.config.root)
        entries = {d.name: _index_entry(d) for d in self.describe_all()}
        for name, folder in scan.models.items():
            version = folder.versions[-1] if folder.versions else None
            entries.setdefault(name, IndexEntry(name, version, PENDING, "not loaded yet"))
        return [entries[name] for name in sorted(entries)]

    async def load(self, name: str) -> None:
        await self.registry.load(name)

    async def unload(self, name: str) -> None:
        await self.registry.unload(name)


def _missed(timeout_ms: float) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"no result within the request's deadline of {timeout_ms:g} ms; its rows were dropped if not yet run"
    )


def _index_entry(model: ModelDescription) -> IndexEntry:
    reasons = [model.reason] if model.reason else []
    return IndexEntry(
        model.name, model.version, model.state, "; ".join(reasons + [f"ignored: {x}" for x in model.ignored])
    )

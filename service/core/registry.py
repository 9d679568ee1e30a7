"""The model repository: which models exist, which version of each is served, and why one is not.

Layout (as Triton's): MODEL_REPOSITORY/NAME/VERSION/model.onnx with numeric versions; the highest
version that loads and warms up is served. `sync` brings the served set in line with the disk (the
watcher calls it on every poll); `load` and `unload` are the explicit controls of the repository API.
All three run under one lock, and ONNX Runtime loads run in a thread, so the event loop keeps serving.

A swap is atomic: `state.served` is replaced in one assignment. A request holds the `ServedModel` it
looked up, so it finishes on the old version; the old batcher is then closed, which runs what it had
already queued before it stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .batcher import Batcher, BatchObserver
from .errors import InvalidInput, ModelLoadFailed, ModelNotFound
from .model import LoadedModel, ModelLoadError
from .repository_files import MODEL_NAME, Fingerprint, fingerprint, model_path, scan_repository
from .shared_unloads import SharedUnloads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepositoryConfig:
    """What the registry needs to know, handed in where the app is assembled."""

    root: Path  # NAME/VERSION/model.onnx
    intra_op_threads: int = 1
    max_batch_size: int = 64
    max_batch_delay_ms: float = 0.0
    inline_run_us: float = 50.0
    max_queue_rows: int = 1024
    shared_dir: Path | None = None  # with several workers: where their unloads are shared


@dataclass
class ServedModel:
    """A loaded model version and the batch queue in front of it."""

    model: LoadedModel
    batcher: Batcher
    fingerprint: Fingerprint | None = None  # of the file it was loaded from: a rewrite in place reloads it


@dataclass
class ModelState:
    name: str
    versions: list[int] = field(default_factory=list)  # on disk, ascending
    served: ServedModel | None = None
    error: str | None = None  # why the model is not served (or why the newest version was rejected)
    unloaded: bool = False  # unloaded through the API: the watcher leaves it alone until an explicit load
    # Failed versions: their file's fingerprint and why. Retried only when the file changes (or on an explicit load).
    rejected: dict[int, tuple[Fingerprint, str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.served is not None


@dataclass(frozen=True)
class ModelEvent:
    """What listeners (metrics, logs) hear: kind is "loaded", "rejected" or "unloaded"."""

    kind: str
    name: str
    version: int | None
    seconds: float = 0.0  # load + warm-up time, for "loaded" and "rejected"
    error: str | None = None


Listener = Callable[[ModelEvent], None]
BatchObserverFactory = Callable[[LoadedModel], BatchObserver | None]


def check_model_name(name: str) -> str:
    """Model names come from URLs: only plain names, so no path can leave the repository."""
    if not MODEL_NAME.match(name) or name in {".", ".."}:
        raise InvalidInput(f"invalid model name {name!r}: use letters, digits, '_', '-' and '.'")
    return name


class ModelRegistry:
    def __init__(
        self,
        config: RepositoryConfig,
        listeners: list[Listener] | None = None,
        batch_observer_for: BatchObserverFactory | None = None,
    ) -> None:
        self.config = config
        self.models: dict[str, ModelState] = {}
        self.loading = False
        self.listeners = listeners or []  # called on the event loop after each load, rejection and unload
        self._batch_observer_for = batch_observer_for
        self._lock = asyncio.Lock()
        # With several workers, explicit unloads are shared (core/shared_unloads.py); otherwise they live here.
        # `_followed` is the list as the last sync applied it: our own writes are not marked followed, since the
        # file may also hold another worker's change made meanwhile; the next follow-up syncs both.
        self.shared = SharedUnloads(config.shared_dir) if config.shared_dir else None
        self._followed: frozenset[str] = frozenset()

    # -- changes: startup, the watcher, the repository API ---------------------------------------------

    async def load_all(self) -> None:
        """Startup: load the newest loadable version of every model; readiness waits for this."""
        self.loading = True
        try:
            await self.sync()
        finally:
            self.loading = False

    async def sync(self) -> None:
        """Load what is new or changed on disk, unload what has gone (and follow other workers' unloads)."""
        async with self._lock:
            on_disk = scan_repository(self.config.root)
            for name in [n for n in self.models if n not in on_disk]:
                await self._remove(name)
            shared = self.shared.names() if self.shared else None
            for name, versions in on_disk.items():
                state = self.models.setdefault(name, ModelState(name))
                state.versions = versions
                if shared is not None and (name in shared) != state.unloaded:
                    await self._set_unloaded(state, unloaded=name in shared)
                if not state.unloaded:
                    await self._load_newest(state, retry_rejected=False)
            self._followed = shared or frozenset()

    async def follow_other_workers(self) -> None:
        """Cheap enough to call often: a sync only when another worker loaded or unloaded a model."""
        if self.shared is not None and self.shared.names() != self._followed:
            await self.sync()

    async def load(self, name: str) -> ModelState:
        """Load (or reload) a model now, retrying versions rejected before; ModelLoadFailed if the newest fails."""
        check_model_name(name)
        async with self._lock:
            versions = scan_repository(self.config.root, only=name).get(name)
            if not versions:
                if name in self.models:
                    await self._remove(name)
                raise ModelNotFound(f"no model {name!r} in the repository (expected {name}/VERSION/model.onnx)")
            state = self.models.setdefault(name, ModelState(name))
            state.versions = versions
            state.unloaded = False
            if self.shared:
                self.shared.discard(name)
            await self._load_newest(state, retry_rejected=True)
            if state.error:  # the newest version failed; an older one may still serve, the message says which
                raise ModelLoadFailed(f"model {name!r} failed to load: {state.error}")
            return state

    async def unload(self, name: str) -> None:
        """Stop serving a model; it stays listed as unloaded until an explicit load."""
        state = self.state(name)
        async with self._lock:
            await self._set_unloaded(state, unloaded=True)
            if self.shared:
                self.shared.add(name)

    async def _set_unloaded(self, state: ModelState, unloaded: bool) -> None:
        state.unloaded = unloaded
        if unloaded:
            state.error = None
            old, state.served = state.served, None
            await self._release(state.name, old)

    async def close(self) -> None:
        async with self._lock:
            for state in self.models.values():
                if state.served:
                    await state.served.batcher.close()

    async def _remove(self, name: str) -> None:
        state = self.models.pop(name)
        log.info("model %s is gone from the repository: unloading it", name)
        await self._release(name, state.served)

    async def _release(self, name: str, served: ServedModel | None) -> None:
        if served is None:
            return
        await served.batcher.close()  # runs what is queued; the session goes with the last reference
        self._notify(ModelEvent("unloaded", name, served.model.version))

    async def _load_newest(self, state: ModelState, retry_rejected: bool) -> None:
        served = state.served
        on_disk = set(state.versions)
        current = served.model.version if served else None
        unchanged = served is not None and current in on_disk and self._path_print(state, current) == served.fingerprint
        errors = []
        for version in reversed(state.versions):
            if unchanged and version <= current:
                break  # the served version is the newest that loads: nothing to do
            path = model_path(self.config.root, state.name, version)
            before = fingerprint(path)
            if before is None:
                continue
            rejected = state.rejected.get(version)
            if rejected and rejected[0] == before and not retry_rejected:
                errors.append(rejected[1])
                continue
            started = time.perf_counter()
            try:
                model = await asyncio.to_thread(self._load_and_warm, state.name, version, path)
            except ModelLoadError as exc:
                seconds = time.perf_counter() - started
                if fingerprint(path) != before:
                    log.info("model %s version %s changed while loading; retried on the next poll", state.name, version)
                    continue
                note = f"version {version}: {exc}"
                state.rejected[version] = (before, note)
                errors.append(note)
                log.error("model %s version %s rejected: %s", state.name, version, exc)
                self._notify(ModelEvent("rejected", state.name, version, seconds, str(exc)))
                continue
            seconds = time.perf_counter() - started
            state.rejected.pop(version, None)
            state.served = ServedModel(model, self._batcher_for(model), before)
            log.info(
                "model %s version %s loaded in %.2fs (%d labels; %s)%s",
                state.name,
                version,
                seconds,
                len(model.labels),
                _describe_cost(model),
                f", replacing version {served.model.version}" if served else "",
            )
            self._notify(ModelEvent("loaded", state.name, version, seconds))
            if served and (served.model.inputs, served.model.labels) != (model.inputs, model.labels):
                log.warning(
                    "model %s version %s changes the interface: inputs %s -> %s, labels %s -> %s",
                    state.name,
                    version,
                    served.model.input_names,
                    model.input_names,
                    served.model.labels,
                    model.labels,
                )
            await self._release(state.name, served)
            break
        if errors and state.served:
            errors.append(f"serving version {state.served.model.version}")
        state.error = "; ".join(errors) or None

    def _path_print(self, state: ModelState, version: int | None) -> Fingerprint | None:
        return None if version is None else fingerprint(model_path(self.config.root, state.name, version))

    def _load_and_warm(self, name: str, version: int, path: Path) -> LoadedModel:
        try:
            model = LoadedModel.load(name, version, path, self.config.intra_op_threads)
            model.warm_up(self.config.max_batch_size)
        except ModelLoadError:
            raise
        except Exception as exc:  # e.g. ORT failing the warm-up run: still this file's fault, so a rejection
            raise ModelLoadError(f"{path}: {type(exc).__name__}: {exc}") from exc
        return model

    def _batcher_for(self, model: LoadedModel) -> Batcher:
        c = self.config
        return Batcher(
            model.run,
            c.max_batch_size,
            c.max_batch_delay_ms,
            c.max_queue_rows,
            self._batch_observer_for(model) if self._batch_observer_for else None,
            predict_seconds=model.cost.seconds if model.cost else None,
            inline_below_s=c.inline_run_us / 1e6,
        )

    def _notify(self, event: ModelEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken metrics hook must not break loading
                log.exception("model event listener %r failed", listener)

    # -- lookups ------------------------------------------------------------------------------------

    def state(self, name: str) -> ModelState:
        check_model_name(name)
        state = self.models.get(name)
        if state is None:
            known = sorted(self.models) or "none"
            raise ModelNotFound(f"unknown model {name!r}; models in the repository: {known}")
        return state


def _describe_cost(model: LoadedModel) -> str:
    cost = model.cost
    if cost is None:
        return "cost not measured"
    return f"{cost.seconds(1) * 1e6:.0f} µs for 1 row, run in chunks of up to {cost.chunk_rows} rows"

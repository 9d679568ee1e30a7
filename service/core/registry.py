"""The model repository: which models exist, which version of each is served, and why one is not.

Layout (as Triton's): MODEL_REPOSITORY/NAME/VERSION/model.onnx with numeric versions; the highest version that
loads and warms up is served. `sync` brings the served set in line with the disk and with what the repository API
asked for (the watcher calls it on every poll); `load` and `unload` are those explicit controls. Each model has its
own lock, and models load side by side, so a slow model delays no other; ONNX Runtime loads and repository scans
run in threads, so the event loop keeps serving. With several workers, the repository API's loads and unloads reach
every worker through `coordination.py`; the registry asks it the same things with one worker or several.

A swap is atomic: `state.served` is replaced in one assignment. A request holds the `ServedModel` it looked up, so
it finishes on the old version; the old batcher is then closed, which runs what it had already queued.

A repository that cannot be listed (unmounted, permissions) unloads nothing: what serves keeps serving, and the
reason is reported. A model folder or version that cannot be read is that model's problem alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from ..contract.repository import (
    Fingerprint,
    ModelFolder,
    RepositoryScan,
    fingerprint,
    model_name_problem,
    model_path,
    scan_repository,
)
from .batcher import Batcher, BatchObserver
from .coordination import LocalCoordination, WorkerCoordination
from .errors import InvalidInput, ModelLoadFailed, ModelNotFound
from .model import LoadedModel, ModelLoadError
from .model_state import ModelEvent, ModelState, RepositoryConfig, ServedModel
from .shared_control import Control

log = logging.getLogger(__name__)


Listener = Callable[[ModelEvent], None]
BatchObserverFactory = Callable[[LoadedModel], BatchObserver | None]


def check_model_name(name: str) -> str:
    """Model names come from URLs: only plain names, so no path can leave the repository."""
    problem = model_name_problem(name)
    if problem:
        raise InvalidInput(f"invalid model name {name!r}: {problem}")
    return name


class ModelRegistry:
    def __init__(
        self,
        config: RepositoryConfig,
        listeners: list[Listener] | None = None,
        batch_observer_for: BatchObserverFactory | None = None,
        workers: WorkerCoordination | None = None,
    ) -> None:
        self.config = config
        self.models: dict[str, ModelState] = {}
        self.loading = False
        self.ignored: list[str] = []  # entries at the top of the repository that are not model folders
        self.repository_error: str | None = None  # the repository itself could not be listed at the last sync
        self.listeners = listeners or []  # called on the event loop after each load, rejection and unload
        self._batch_observer_for = batch_observer_for
        self._locks: dict[str, asyncio.Lock] = {}  # one per model: a model's changes happen one at a time
        self._busy: dict[str, asyncio.Task] = {}  # a model's change in progress
        self._started = False  # the startup load is done: from then on, what this worker applies is shared
        # Repository control (the API's loads and unloads), agreed with the other workers, if any.
        self.workers = workers or LocalCoordination()
        self._followed = 0  # the control generation the last sync looked at
        self._applied: dict[str, tuple[int, int | None]] = {}  # model -> (control generation, version served)
        self._reported: set[str] = set()  # the repository problems of the last sync, each logged when it appeared

    # -- changes: startup, the watcher, the repository API ---------------------------------------------

    async def load_all(self) -> None:
        """Startup: load the newest loadable version of every model; readiness waits for this."""
        self.loading = True
        try:
            await self.sync(follow_busy=True)
        finally:
            self.loading = False
            self._started = True
            await self._acknowledge()

    async def sync(self, wait: bool = True, follow_busy: bool = False) -> None:
        """Load what is new or changed on disk, unload what has gone, apply the repository API's controls.

        Each model changes in a task of its own (`wait=False` returns once they have started: the watcher, which a
        slow model must not hold up). A model whose change is still in progress (a slow load) is left to it, and
        looked at again by the next sync, unless `follow_busy`: then its next change waits for the current one."""
        control = await self.workers.read()
        self._followed = control.generation
        scan = await asyncio.to_thread(scan_repository, self.config.root)
        self.repository_error, self.ignored = scan.error, scan.ignored
        changes = {folder.name: self._sync_model(folder) for folder in scan.models.values()}
        if scan.error is None:
            changes.update({name: self._remove(name) for name in self.models if name not in scan.models})
        tasks = []
        for name, change in changes.items():
            if name in self._busy and not follow_busy:
                change.close()  # never started
                continue
            tasks.append(self._start(name, change))
        self._report(scan)
        if wait:
            await asyncio.gather(*tasks)

    async def follow_other_workers(self, wait: bool = True) -> None:
        """Cheap enough to call often: a sync only when the repository API changed something."""
        if self.workers.following and (await self.workers.read()).generation != self._followed:
            await self.sync(wait=wait, follow_busy=True)
        elif self._started and not self._busy:
            await self._acknowledge()  # a write that failed earlier

    async def load(self, name: str) -> ModelState:
        """Load (or reload) a model now on every worker, retrying versions rejected before.

        ModelNotFound when it is not on disk, ModelLoadFailed when its newest version fails (an older one may still
        serve: the message says which), RepositoryControlFailed when the workers do not all follow in time."""
        check_model_name(name)
        folder = (await asyncio.to_thread(scan_repository, self.config.root, name)).models.get(name)
        if folder is None or not folder.versions:
            hints = f"; found instead: {'; '.join(folder.ignored)}" if folder and folder.ignored else ""
            raise ModelNotFound(f"no model {name!r} in the repository (expected {name}/VERSION/model.onnx){hints}")
        generation = await self.workers.change(lambda c: c.with_load(name), "load", name)
        await self._start(name, self._sync_model(folder))
        state = self.state(name)
        if state.error:
            raise ModelLoadFailed(f"model {name!r} failed to load: {state.error}")
        await self.workers.wait_for_workers(generation, name, served=True)
        return state

    async def unload(self, name: str) -> None:
        """Stop serving a model on every worker; it stays listed as unloaded until an explicit load."""
        self.state(name)
        generation = await self.workers.change(lambda c: c.with_unload(name), "unload", name)
        folder = (await asyncio.to_thread(scan_repository, self.config.root, name)).models.get(name)
        await self._start(name, self._sync_model(folder) if folder else self._remove(name))
        await self.workers.wait_for_workers(generation, name, served=False)

    async def close(self) -> None:
        for task in list(self._busy.values()):
            await asyncio.wait([task])  # a load in progress cannot be interrupted: let it end
        for state in self.models.values():
            if state.served:
                await state.served.batcher.close()
        await self.workers.leave()

    def _start(self, name: str, change: Coroutine[Any, Any, None]) -> asyncio.Task:
        """Run one change of one model, after any change of that model already under way."""

        async def run() -> None:
            async with self._lock_for(name):
                try:
                    await change
                except Exception:  # one model's failure must not stop the others or the watcher
                    log.exception("updating model %s failed", name)
            if self._started:
                await self._acknowledge()

        task = asyncio.create_task(run())
        self._busy[name] = task
        task.add_done_callback(lambda done: self._busy.pop(name) if self._busy.get(name) is done else None)
        return task

    async def _acknowledge(self) -> None:
        await self.workers.acknowledge(self._applied)

    # -- one model ---------------------------------------------------------------------------------------

    def _lock_for(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _sync_model(self, folder: ModelFolder) -> None:
        """Bring one model in line with its folder and the control as it is now (read under the model's lock, so a
        change queued behind a slow load never applies an older state)."""
        control = await self.workers.read()
        try:
            await self._apply(folder, control)
        finally:
            state = self.models.get(folder.name)
            version = state.served.model.version if state and state.served else None
            self._applied[folder.name] = (control.generation, version)

    async def _apply(self, folder: ModelFolder, control: Control) -> None:
        state = self.models.setdefault(folder.name, ModelState(folder.name))
        if folder.error is None:  # a folder that cannot be listed keeps what it had
            state.versions, state.unreadable, state.ignored = folder.versions, folder.unreadable, folder.ignored
        state.folder_error = folder.error
        unloaded = folder.name in control.unloaded
        if unloaded != state.unloaded:
            state.unloaded = unloaded
            if unloaded:
                state.error = None
                old, state.served = state.served, None
                await self._release(state.name, old)
        if state.unloaded:
            return
        if state.versions:
            asked, seen = control.loads.get(folder.name, 0), self._applied.get(folder.name, (0, None))[0]
            await self._load_newest(state, explicit=asked if asked > seen else 0)
        elif folder.error is None:  # the folder holds no version (any more): nothing to serve
            old, state.served = state.served, None
            state.error = f"no version to serve (expected {folder.name}/1/model.onnx)"
            if old is not None:
                log.info("model %s has no version folder left: unloading it", folder.name)
                await self._release(state.name, old)
        else:
            state.error = folder.error

    async def _remove(self, name: str) -> None:
        state = self.models.pop(name, None)
        self._applied.pop(name, None)
        if state is not None:
            log.info("model %s is gone from the repository: unloading it", name)
            await self._release(name, state.served)

    async def _release(self, name: str, served: ServedModel | None) -> None:
        if served is None:
            return
        await served.batcher.close()  # runs what is queued; the session goes with the last reference
        self._notify(ModelEvent("unloaded", name, served.model.version))

    async def _load_newest(self, state: ModelState, explicit: int) -> None:
        """`explicit`: the generation of a repository API load to apply (it retries rejected versions), or 0."""
        served = state.served
        current = served.model.version if served else None
        unchanged = (
            served is not None and current in state.versions and self._print_of(state, current) == served.fingerprint
        )
        errors = [state.folder_error] if state.folder_error else []
        for version in reversed(state.versions):
            if unchanged and version <= current:
                break  # the served version is the newest that loads: nothing to do
            if version in state.unreadable:
                errors.append(f"version {version}: {state.unreadable[version]}")
                continue
            path = model_path(self.config.root, state.name, version)
            before = fingerprint(path)
            if before is None:
                continue  # gone since the scan
            rejected = state.rejected.get(version)
            if rejected and rejected[0] == before and not explicit:
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
                attempt = f"{before[0]}:{before[1]}:{explicit}"
                self._notify(ModelEvent("rejected", state.name, version, seconds, str(exc), attempt))
                continue
            self._swap_in(state, model, before, time.perf_counter() - started, f"{before[0]}:{before[1]}:{explicit}")
            break
        if errors and state.served:
            errors.append(f"serving version {state.served.model.version}")
        state.error = "; ".join(errors) or None
        if served is not None and state.served is not served:
            await self._release(state.name, served)

    def _swap_in(
        self, state: ModelState, model: LoadedModel, loaded_from: Fingerprint, seconds: float, attempt: str
    ) -> None:
        old = state.served
        state.rejected.pop(model.version, None)
        state.served = ServedModel(model, self._batcher_for(model), loaded_from)
        log.info(
            "model %s version %s loaded in %.2fs (%d labels; %s)%s",
            state.name,
            model.version,
            seconds,
            len(model.labels),
            _describe_cost(model),
            f", replacing version {old.model.version}" if old else "",
        )
        for warning in model.warnings:
            log.warning("model %s version %s: %s", state.name, model.version, warning)
        self._notify(ModelEvent("loaded", state.name, model.version, seconds, attempt=attempt))
        if old and (old.model.inputs, old.model.labels) != (model.inputs, model.labels):
            log.warning(
                "model %s version %s changes the interface: inputs %s -> %s, labels %s -> %s",
                state.name,
                model.version,
                old.model.input_names,
                model.input_names,
                old.model.labels,
                model.labels,
            )

    def _print_of(self, state: ModelState, version: int | None) -> Fingerprint | None:
        return None if version is None else fingerprint(model_path(self.config.root, state.name, version))

    def _load_and_warm(self, name: str, version: int, path: Path) -> LoadedModel:
        try:
            model = LoadedModel.load(name, version, path, self.config.intra_op_threads)
            model.warm_up(self.config.max_batch_size)
        except ModelLoadError:
            raise
        except Exception as exc:  # e.g. ORT failing the warm-up run: still this file's fault, so a rejection
            raise ModelLoadError(f"{path}: {exc}") from exc
        return model

    def _batcher_for(self, model: LoadedModel) -> Batcher:
        c = self.config
        return Batcher(
            model.run,
            c.max_batch_size,
            c.max_batch_delay_ms,
            c.max_queue_rows,
            self._batch_observer_for(model) if self._batch_observer_for else None,
            predict_seconds=model.call_seconds,
            inline_below_s=c.inline_run_us / 1e6,
            merge=model.merge_rows,
        )

    def _notify(self, event: ModelEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken metrics hook must not break loading
                log.exception("model event listener %r failed", listener)

    def _report(self, scan: RepositoryScan) -> None:
        """One log line per repository problem when it appears, and one when it is gone (not one per poll)."""
        problems = {f"cannot be used: {scan.error}"} if scan.error else set()
        problems |= {f"ignoring {entry}" for entry in scan.ignored}
        for folder in scan.models.values():  # from the scan itself: the models' own changes may still be running
            problems |= {f"ignoring {folder.name}/{entry}" for entry in folder.ignored}
            problems |= {f"model {folder.name}: {why}" for why in [folder.error, *folder.unreadable.values()] if why}
        for problem in sorted(problems - self._reported):
            log.warning("model repository: %s", problem)
        for problem in sorted(self._reported - problems):
            log.info("model repository: resolved: %s", problem)
        self._reported = problems

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

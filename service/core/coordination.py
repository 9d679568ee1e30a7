"""How the workers of one server agree on repository control: one interface, one worker or several.

The registry asks the same five things either way: the control as it is now (`read`), a change to it (`change`,
e.g. an unload through the repository API), "this is what I apply now" (`acknowledge`), "until every worker has
applied it" (`wait_for_workers`) and "I am leaving" (`leave`). Readiness asks which workers have loaded the
repository (`not_ready_reasons`, `others_serving`).

- `LocalCoordination`: one worker; the control lives in memory and nobody else needs telling.
- `SharedCoordination`: WORKERS > 1; the control and every worker's acknowledgement are files in SHARED_DIR
  (`shared_control.py`), which the other workers follow several times a second (`following`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .errors import RepositoryControlFailed
from .shared_control import APPLIED_DIR, Control, SharedControl, process_alive, worker_pid

Applied = dict[str, tuple[int, int | None]]  # model -> (control generation applied, version served or None)
ControlChange = Callable[[Control], Control]


class WorkerCoordination(Protocol):
    following: bool  # other workers may change the control: the watcher follows it often

    async def read(self) -> Control: ...

    async def change(self, change: ControlChange, verb: str, name: str) -> int: ...

    async def acknowledge(self, applied: Applied) -> None: ...

    async def wait_for_workers(self, generation: int, name: str, served: bool) -> None: ...

    async def leave(self) -> None: ...

    def not_ready_reasons(self) -> list[str]: ...

    def others_serving(self) -> bool: ...


class LocalCoordination:
    """One worker: the control in memory."""

    following = False

    def __init__(self) -> None:
        self._control = Control()

    async def read(self) -> Control:
        return self._control

    async def change(self, change: ControlChange, verb: str, name: str) -> int:
        self._control = change(self._control)
        return self._control.generation

    async def acknowledge(self, applied: Applied) -> None:
        return None

    async def wait_for_workers(self, generation: int, name: str, served: bool) -> None:
        return None

    async def leave(self) -> None:
        return None

    def not_ready_reasons(self) -> list[str]:
        return []

    def others_serving(self) -> bool:
        return False


class SharedCoordination:
    """Several workers sharing `folder` (SHARED_DIR). Files are read and written in threads: the event loop serves.

    Which workers have loaded the repository: the live ones among `applied/PID.json`. uvicorn replaces a worker that
    dies; the dead one's file is dropped at the next readiness check (and `on_dead` told, for its metrics), so
    readiness waits for the replacement to load. Files that are not named by a process id are left alone.
    """

    following = True

    def __init__(
        self,
        folder: Path,
        workers: int,
        wait_seconds: float = 30.0,
        on_dead: Callable[[int], None] | None = None,
    ) -> None:
        self.folder = folder
        self.workers = workers
        self.wait_seconds = wait_seconds  # how long a load or unload waits for the other workers
        self._control = SharedControl(folder)
        self._applied_dir = folder / APPLIED_DIR
        self._on_dead = on_dead
        self._acknowledged: Applied | None = None  # what the shared file says of this worker
        self._acknowledging = asyncio.Lock()

    async def read(self) -> Control:
        return await asyncio.to_thread(self._control.read)

    async def change(self, change: ControlChange, verb: str, name: str) -> int:
        try:
            return await asyncio.to_thread(self._control.change, change)
        except OSError as exc:
            raise RepositoryControlFailed(
                f"cannot {verb} model {name!r}: the workers share repository control in {self.folder}, "
                f"which cannot be written ({exc.strerror or exc}); nothing was changed"
            ) from None

    async def acknowledge(self, applied: Applied) -> None:
        """Write what this worker has applied, one write at a time so the newest state is the one that lands; a
        failed write is tried again at the next change or follow."""
        async with self._acknowledging:
            if applied == self._acknowledged:
                return
            snapshot = dict(applied)
            if await asyncio.to_thread(self._control.acknowledge, snapshot):
                self._acknowledged = snapshot

    async def wait_for_workers(self, generation: int, name: str, served: bool) -> None:
        """Until every worker has applied the model's control up to `generation` and serves (or no longer serves)
        it."""
        if self.workers <= 1:
            return
        deadline = time.monotonic() + self.wait_seconds
        while True:
            applied = [a.models.get(name, (0, None)) for a in await asyncio.to_thread(self._control.applied)]
            done = sum(seen >= generation and (version is not None) == served for seen, version in applied)
            if done >= self.workers:
                return
            if time.monotonic() > deadline:
                state = "serve" if served else "have let go of"
                raise RepositoryControlFailed(
                    f"{done} of {self.workers} workers {state} model {name!r} after {self.wait_seconds:g}s; the "
                    "others follow when they can: retry the call"
                )
            await asyncio.sleep(0.02)

    async def leave(self) -> None:
        await asyncio.to_thread(self._control.forget_me)

    def not_ready_reasons(self) -> list[str]:
        joined = sum(self._alive(entry) for entry in self._entries())
        if joined >= self.workers:
            return []
        return [f"{joined} of {self.workers} workers have loaded the repository"]

    def others_serving(self) -> bool:
        """Whether another live worker has loaded the repository: this one joins a server already serving."""
        return any(worker_pid(e.name) not in (None, os.getpid()) and self._alive(e) for e in self._entries())

    def _entries(self) -> list[Path]:
        try:
            return list(self._applied_dir.iterdir())
        except OSError:
            return []

    def _alive(self, entry: Path) -> bool:
        pid = worker_pid(entry.name)
        if pid is None:
            return False
        if process_alive(pid):
            return True
        entry.unlink(missing_ok=True)
        if self._on_dead is not None:
            self._on_dead(pid)
        return False

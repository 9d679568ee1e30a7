"""Hot reload: load the repository at startup, then poll it every MODEL_POLL_SECONDS and apply what changed.

Polling (not inotify) works the same on every filesystem a repository may live on: local disks, bind mounts,
Kubernetes volumes and network shares. A poll is one directory listing and a few stat calls per model.
With several workers it also follows, every FOLLOW_SECONDS, the loads and unloads other workers were asked
for through the repository API (one stat call when nothing changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .registry import ModelRegistry

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 0.1  # one stat call of the shared control file


class RepositoryWatcher:
    def __init__(self, registry: ModelRegistry, interval_seconds: float) -> None:
        self.registry = registry
        self.interval = interval_seconds
        self._stopping = asyncio.Event()
        self.first_load = asyncio.Event()  # set once the load at start is over, whatever its outcome
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.registry.loading = True  # set before the first await, so readiness says "loading" at once
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let a load in progress finish (an ORT load cannot be interrupted), then stop polling."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            await self.registry.load_all()
        except Exception:  # e.g. a filesystem error at start: the polls below try again
            log.exception("loading the model repository failed; trying again at the next poll")
        self.first_load.set()
        following = self.registry.workers.following
        if self.interval <= 0 and not following:
            return
        if not following:
            tick = self.interval
        else:
            tick = min(self.interval, FOLLOW_SECONDS) if self.interval > 0 else FOLLOW_SECONDS
        next_poll = time.monotonic() + self.interval
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), tick)
            if self._stopping.is_set():
                return
            try:
                if self.interval > 0 and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.interval
                    await self.registry.sync(wait=False)  # a slow model must not hold up the next poll
                else:
                    await self.registry.follow_other_workers(wait=False)
            except Exception:  # a bad poll (e.g. the repository briefly unmounted) must not stop the next one
                log.exception("polling the model repository failed")

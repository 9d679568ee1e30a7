"""Hot reload: load the repository at startup, then poll it every MODEL_POLL_SECONDS and apply what changed.

Polling (not inotify) works the same on every filesystem a repository may live on: local disks, bind mounts,
Kubernetes volumes and network shares. A poll is one directory listing and a few stat calls per model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .registry import ModelRegistry

log = logging.getLogger(__name__)


class RepositoryWatcher:
    def __init__(self, registry: ModelRegistry, interval_seconds: float) -> None:
        self.registry = registry
        self.interval = interval_seconds
        self._stopping = asyncio.Event()
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
        await self.registry.load_all()
        if self.interval <= 0:
            return
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.registry.sync()
            except Exception:  # a bad poll (e.g. the repository briefly unmounted) must not stop the next one
                log.exception("polling the model repository failed")

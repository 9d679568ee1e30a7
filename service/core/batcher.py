"""Adaptive batching: concurrent requests for one model version run as one ONNX Runtime call.

Requests queue per model version. A single worker task takes what is queued (waiting up to
MAX_BATCH_DELAY_MS for more, never past MAX_BATCH_SIZE rows), runs one ONNX Runtime call in a thread,
and hands each caller exactly its own rows. The queue is bounded in rows: when it is full the caller gets
`Overloaded` at once instead of waiting behind an ever longer line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .errors import Overloaded

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
RunFn = Callable[[Arrays], tuple[np.ndarray, np.ndarray]]


class BatchObserver(Protocol):
    """Told about every ONNX Runtime call (metrics); must be cheap, it runs on the event loop."""

    def batch_done(self, rows: int, waits: list[float], run_seconds: float) -> None: ...


@dataclass
class _Pending:
    arrays: Arrays
    rows: int
    future: asyncio.Future = field(repr=False)
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        run: RunFn,
        max_batch_size: int,
        max_delay_ms: float,
        max_queue_rows: int,
        observer: BatchObserver | None = None,
    ) -> None:
        self._run = run
        self._observer = observer
        self._max_batch_size = max_batch_size
        self._max_delay = max_delay_ms / 1000.0
        self._max_queue_rows = max(max_queue_rows, max_batch_size)
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False
        self._delay_over: asyncio.Future | None = None  # set while the worker waits for more rows

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def submit(self, arrays: Arrays, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and logits for these rows, computed in some batch."""
        if self._queued_rows + rows > self._max_queue_rows:
            raise Overloaded(f"queue is full ({self._queued_rows} rows waiting, MAX_QUEUE_ROWS={self._max_queue_rows})")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            # Also after close(): a request that looked this version up just before a hot swap still runs.
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work())
        pending = _Pending(arrays, rows, loop.create_future())
        self._queue.append(pending)
        self._queued_rows += rows
        self._wakeup.set()
        try:
            return await pending.future
        except asyncio.CancelledError:
            pending.future.cancel()  # the caller left: the worker skips it if it has not started
            raise

    async def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        self._closed = True
        if self._delay_over is not None:
            _end_delay(self._delay_over)
        if self._worker is not None:
            self._wakeup.set()
            await self._worker

    async def _work(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._max_delay and self._queued_rows < self._max_batch_size and not self._closed:
                await self._wait_for_company()
            batch = self._take_batch()
            if batch:
                await self._run_batch(batch)

    async def _wait_for_company(self) -> None:
        """Sleep MAX_BATCH_DELAY_MS, cut short by close(): shutting down or a hot swap never waits out a delay."""
        loop = asyncio.get_running_loop()
        self._delay_over = loop.create_future()
        timer = loop.call_later(self._max_delay, _end_delay, self._delay_over)
        try:
            await self._delay_over
        finally:
            timer.cancel()
            self._delay_over = None

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + self._queue[0].rows <= self._max_batch_size):
            pending = self._queue.popleft()
            self._queued_rows -= pending.rows
            if pending.future.done():  # cancelled by a caller that has gone: do no work for it
                continue
            batch.append(pending)
            rows += pending.rows
        return batch

    async def _run_batch(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            arrays = batch[0].arrays
        else:
            arrays = {name: np.concatenate([p.arrays[name] for p in batch]) for name in batch[0].arrays}
        started = time.perf_counter()
        try:
            probabilities, logits = await asyncio.to_thread(self._run, arrays)
        except Exception:
            if len(batch) == 1:
                log.exception("inference failed")
                _settle(batch[0], error=RuntimeError("inference failed"))
                return
            # One bad request must not fail the others: run each on its own.
            for pending in batch:
                await self._run_batch([pending])
            return
        if self._observer is not None:
            waits = [started - p.queued_at for p in batch]
            self._observer.batch_done(probabilities.shape[0], waits, time.perf_counter() - started)
        start = 0
        for pending in batch:
            end = start + pending.rows
            _settle(pending, result=(probabilities[start:end], logits[start:end]))
            start = end


def _end_delay(delay_over: asyncio.Future) -> None:
    if not delay_over.done():
        delay_over.set_result(None)


def _settle(pending: _Pending, result: tuple | None = None, error: Exception | None = None) -> None:
    if pending.future.done():
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(result)

"""Adaptive batching: concurrent requests for one model version run as one ONNX Runtime call.

Requests queue per model version. A single worker task takes what is queued (waiting up to
MAX_BATCH_DELAY_MS for more unless MAX_BATCH_SIZE rows are there; close() cuts the wait short),
runs one ONNX Runtime call, and hands each caller exactly its own rows. While a batch runs, the next
one gathers in the queue. The queue is bounded in rows: when it is full the caller gets `Overloaded`
at once instead of waiting behind an ever longer line.

Rows submitted with a `key` (a variable-length text model's rows of one token count) share a call only with
rows of the same key: the first request in the queue sets the batch's key, the others keep their place.

Where a batch runs: on the model's own single thread, so the event loop keeps parsing requests meanwhile;
but a batch expected to finish faster than a thread hand-off costs (`inline_below_s`, predicted from the
model's cost measured at warm-up) runs on the event loop directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .errors import ModelNotReady, Overloaded

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
RunFn = Callable[[Arrays], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class BatchReport:
    """One ONNX Runtime call, as observers (metrics, statistics) hear of it."""

    rows: int
    waits: list[float]  # seconds each request of the batch waited in the queue
    run_seconds: float
    queued_rows: int  # rows still waiting when it ended
    probabilities: np.ndarray  # float32 [rows, labels], the batch's answers


class BatchObserver(Protocol):
    """Told about every ONNX Runtime call; must be cheap, it runs on the event loop."""

    def batch_done(self, report: BatchReport) -> None: ...


@dataclass
class _Pending:
    arrays: Arrays
    rows: int
    future: asyncio.Future = field(repr=False)
    key: object = None  # rows with different keys never share a call
    queued_at: float = field(default_factory=time.perf_counter)
    counted: bool = True  # its rows count toward the queue's limit until it is taken or its caller leaves


class Batcher:
    def __init__(
        self,
        run: RunFn,
        max_batch_size: int,
        max_delay_ms: float,
        max_queue_rows: int,
        observer: BatchObserver | None = None,
        *,
        predict_seconds: Callable[[int], float] | None = None,
        inline_below_s: float = 0.0,
        merge: Callable[[list[Arrays]], Arrays] | None = None,
    ) -> None:
        """`merge` joins the arrays of several requests into one batch when they are not simply stacked (a
        transformer pads each request to its longest text, and the batch to its longest row)."""
        self._run = run
        self._merge = merge
        self._observer = observer
        self._predict_seconds = predict_seconds
        self._inline_below_s = inline_below_s
        self._executor: ThreadPoolExecutor | None = None
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

    async def submit(self, arrays: Arrays, rows: int, key: object = None) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and logits for these rows, computed in some batch (only with rows of the same `key`)."""
        if self._queued_rows + rows > self._max_queue_rows:
            raise Overloaded(f"queue is full ({self._queued_rows} rows waiting, MAX_QUEUE_ROWS={self._max_queue_rows})")
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            # Also after close(): a request that looked this version up just before a hot swap still runs.
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work())
        pending = _Pending(arrays, rows, loop.create_future(), key=key)
        self._queue.append(pending)
        self._queued_rows += rows
        self._wakeup.set()
        if self._delay_over is not None and self._queued_rows >= self._max_batch_size:
            _end_delay(self._delay_over)  # the batch is full: no reason to wait out the delay
        try:
            return await pending.future
        except asyncio.CancelledError:
            pending.future.cancel()  # the caller left: the worker skips it if it has not started
            if pending.counted:  # and its rows stop taking room in the queue at once, not when popped
                pending.counted = False
                self._queued_rows -= rows
            raise

    async def close(self) -> None:
        """Finish what is queued, then stop the worker and its thread."""
        self._closed = True
        if self._delay_over is not None:
            _end_delay(self._delay_over)
        if self._worker is not None:
            self._wakeup.set()
            await self._worker
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

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
                try:
                    await self._run_batch(batch)
                except asyncio.CancelledError:  # the event loop is ending: nobody may be left waiting
                    stopping = ModelNotReady("the server is shutting down; retry the request")
                    for pending in [*batch, *self._queue]:
                        _settle(pending, error=stopping)
                    raise
                except Exception as exc:  # the worker must survive anything, or every later caller would hang
                    log.exception("batch failed unexpectedly")
                    for pending in batch:
                        _settle(pending, error=RuntimeError(f"inference failed: {exc}"))

    async def _wait_for_company(self) -> None:
        """Sleep MAX_BATCH_DELAY_MS, cut short by a full batch or by close() (a hot swap never waits out a delay)."""
        loop = asyncio.get_running_loop()
        self._delay_over = loop.create_future()
        timer = loop.call_later(self._max_delay, _end_delay, self._delay_over)
        try:
            await self._delay_over
        finally:
            timer.cancel()
            self._delay_over = None

    def _take_batch(self) -> list[_Pending]:
        if self._queue[0].key is not None:
            return self._take_keyed_batch()
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + self._queue[0].rows <= self._max_batch_size):
            pending = self._queue.popleft()
            if pending.counted:
                pending.counted = False
                self._queued_rows -= pending.rows
            if pending.future.done():  # cancelled by a caller that has gone: do no work for it
                continue
            batch.append(pending)
            rows += pending.rows
        return batch

    def _take_keyed_batch(self) -> list[_Pending]:
        """The first live request's rows, and those of the queued requests with its key that fit beside them."""
        while self._queue and self._queue[0].future.done():
            self._uncount(self._queue.popleft())
        if not self._queue:
            return []
        key = self._queue[0].key
        batch: list[_Pending] = []
        waiting: deque[_Pending] = deque()
        rows = 0
        for pending in self._queue:
            fits = not batch or rows + pending.rows <= self._max_batch_size
            if pending.key == key and fits and not pending.future.done():
                batch.append(pending)
                rows += pending.rows
                self._uncount(pending)
            elif not pending.future.done():
                waiting.append(pending)
            else:
                self._uncount(pending)
        self._queue = waiting
        return batch

    def _uncount(self, pending: _Pending) -> None:
        if pending.counted:
            pending.counted = False
            self._queued_rows -= pending.rows

    async def _run_batch(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            if len(batch) == 1:
                arrays = batch[0].arrays
            elif self._merge is not None:
                arrays = self._merge([p.arrays for p in batch])
            else:  # inside the try: rows of different shapes (dynamic dimensions) cannot be stacked
                arrays = {name: np.concatenate([p.arrays[name] for p in batch]) for name in batch[0].arrays}
            probabilities, logits = await self._call(arrays, sum(p.rows for p in batch))
        except Exception:
            if len(batch) == 1:
                log.exception("inference failed")
                _settle(batch[0], error=RuntimeError("inference failed"))
                return
            # One bad request must not fail the others: run each on its own.
            for pending in batch:
                if not pending.future.done():
                    await self._run_batch([pending])
            return
        if self._observer is not None:
            waits = [started - p.queued_at for p in batch]
            elapsed = time.perf_counter() - started
            self._observer.batch_done(
                BatchReport(probabilities.shape[0], waits, elapsed, self._queued_rows, probabilities)
            )
        start = 0
        for pending in batch:
            end = start + pending.rows
            _settle(pending, result=(probabilities[start:end], logits[start:end]))
            start = end

    async def _call(self, arrays: Arrays, rows: int) -> tuple[np.ndarray, np.ndarray]:
        if self._predict_seconds is not None and self._predict_seconds(rows) < self._inline_below_s:
            return self._run(arrays)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, arrays)


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

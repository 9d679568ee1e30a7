"""Request deadlines on shared timers: one event-loop timer per few milliseconds of deadlines, not one per request.

`asyncio.timeout` per request made and cancelled a timer for every request (its cost: docs/performance/profile.md),
though nearly every request is answered long before its deadline. Here a
deadline is rounded up to the next GRAIN_S (never early, at most GRAIN_S late) and the requests whose deadlines
round to the same instant share one timer: under load, dozens of requests per timer. When it fires, each of them
still waiting has its task cancelled, and `expired` says so, so that the request answers DeadlineExceeded (its
batcher submission is cancelled with it, as under asyncio.timeout) while any other cancellation stays one.
"""

from __future__ import annotations

import asyncio
import math

GRAIN_S = 0.005  # how late a deadline may fire; also how many live timers 30 s of deadlines can need (6,000)


class DeadlineWatch:
    """One per event loop's data plane: `watch` before awaiting the work, `release` in a finally after it."""

    def __init__(self) -> None:
        self._due: dict[int, set[asyncio.Task]] = {}  # rounded deadline (in GRAIN_S) -> tasks still waiting
        self._expired: set[asyncio.Task] = set()

    def watch(self, remaining_s: float) -> tuple[int, asyncio.Task]:
        """The current task is cancelled if it is still watched `remaining_s` from now (rounded up)."""
        task = asyncio.current_task()
        loop = task.get_loop()
        tick = math.ceil((loop.time() + remaining_s) / GRAIN_S)
        waiting = self._due.get(tick)
        if waiting is None:
            waiting = self._due[tick] = set()
            loop.call_at(tick * GRAIN_S, self._expire, tick)
        waiting.add(task)
        return tick, task

    def release(self, watched: tuple[int, asyncio.Task]) -> None:
        tick, task = watched
        waiting = self._due.get(tick)
        if waiting is not None:
            waiting.discard(task)

    def expired(self, watched: tuple[int, asyncio.Task]) -> bool:
        """Whether the task's cancellation came from its deadline (then it is no longer cancelling)."""
        task = watched[1]
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _expire(self, tick: int) -> None:
        for task in self._due.pop(tick, ()):
            if not task.done():
                self._expired.add(task)
                task.cancel()

"""Shared deadline timers (service/core/deadline_watch.py): what expires is told apart from any other cancellation,
and a released request is never cancelled later. No durations are asserted."""

from __future__ import annotations

import asyncio

import pytest

from service.core.deadline_watch import DeadlineWatch


async def waits_for(watch: DeadlineWatch, work: asyncio.Future, remaining_s: float) -> str:
    watched = watch.watch(remaining_s)
    try:
        await work
        return "answered"
    except asyncio.CancelledError:
        if watch.expired(watched):
            return "deadline"
        raise
    finally:
        watch.release(watched)


def test_work_that_outlasts_its_deadline_is_cancelled_as_missed() -> None:
    async def scenario() -> list[str]:
        watch, loop = DeadlineWatch(), asyncio.get_running_loop()
        never = [loop.create_future() for _ in range(3)]
        return await asyncio.gather(*(waits_for(watch, future, 0.01) for future in never))

    assert asyncio.run(scenario()) == ["deadline"] * 3


def test_any_other_cancellation_stays_a_cancellation() -> None:
    async def scenario() -> None:
        watch = DeadlineWatch()
        request = asyncio.ensure_future(waits_for(watch, asyncio.get_running_loop().create_future(), 60))
        await asyncio.sleep(0)
        request.cancel()
        await request

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


def test_a_request_answered_in_time_is_left_alone_after() -> None:
    async def scenario() -> tuple[str, int]:
        watch, loop = DeadlineWatch(), asyncio.get_running_loop()
        work = loop.create_future()
        loop.call_soon(work.set_result, None)
        answer = await waits_for(watch, work, 0.01)
        await asyncio.sleep(0.05)  # past the deadline: its timer fires and finds nobody
        return answer, asyncio.current_task().cancelling()

    assert asyncio.run(scenario()) == ("answered", 0)

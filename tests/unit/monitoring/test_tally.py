"""Request and batch metrics tallied per event-loop step (service/telemetry/tally.py): what they write is what
prometheus_client's own inc() and observe() write, and it is written at the end of the step."""

from __future__ import annotations

import asyncio
import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.telemetry.tally import STEP, CounterTally, HistogramTally

BUCKETS = (0.001, 0.01, 0.1, 1.0)
VALUES = [0.0005, 0.001, 0.25, 0.25, 3.0, 0.01, 0.0625, 1.0, math.nan, math.inf]  # sums exact in binary


def metrics() -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("t_requests", "requests", ["status"], registry=registry)
    histogram = Histogram("t_seconds", "seconds", ["status"], buckets=BUCKETS, registry=registry)
    return registry, counter, histogram


def test_a_tally_writes_what_inc_and_observe_write() -> None:
    direct, counter, histogram = metrics()
    for value in VALUES:
        counter.labels("200").inc()
        histogram.labels("200").observe(value)
    tallied, counter, histogram = metrics()
    counts, durations = CounterTally(counter.labels("200")), HistogramTally(histogram.labels("200"))
    for value in VALUES:
        counts.inc()
        durations.observe(value)
    STEP.write()
    assert _without_created(generate_latest(tallied)) == _without_created(generate_latest(direct))


def _without_created(exposition: bytes) -> list[bytes]:
    return [line for line in exposition.splitlines() if b"_created" not in line]


def test_on_an_event_loop_it_is_written_at_the_end_of_the_step() -> None:
    registry, counter, _ = metrics()
    counts = CounterTally(counter.labels("200"))

    def value() -> float | None:
        return registry.get_sample_value("t_requests_total", {"status": "200"})

    async def one_step() -> tuple[float | None, float | None]:
        counts.inc()
        counts.inc()
        seen_in_the_step = value()
        await asyncio.sleep(0)  # the step ends; the next one begins after the tally's write
        return seen_in_the_step, value()

    assert asyncio.run(one_step()) == (0.0, 2.0)
    counts.inc()  # no event loop: written at once
    assert value() == 3.0

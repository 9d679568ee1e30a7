"""Counter increments and histogram observations kept during one event-loop step, written together at its end.

prometheus_client's `Counter.inc` and `Histogram.observe` check their arguments, take a lock and (a histogram) walk
its buckets in Python on every call: several times what the request metrics' own arithmetic needs (measured in
docs/performance/profile.md). A `CounterTally` or `HistogramTally` keeps what it is told in plain numbers (a
histogram finds its bucket with `bisect`), and at the end of the event-loop step in which it was first told
(`call_soon`) each writes one increment per touched bucket and one for its sum (a counter: one increment) to
prometheus_client's own value objects: what `observe()` would have written one value at a time (a sum may differ
in its last bits, being added in another order). With several workers those writes land in the multiprocess files,
as every metric's do, at the end of the step in which the requests finished; a scrape writes what is kept first.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any


class StepTally:
    """What was told in this event-loop step, written at its end (or at once, outside an event loop)."""

    def __init__(self) -> None:
        self._touched: list[CounterTally | HistogramTally] = []

    def touched(self, tally: CounterTally | HistogramTally) -> None:
        self._touched.append(tally)
        if len(self._touched) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.write)
            except RuntimeError:  # no event loop: nothing would write it later
                self.write()

    def write(self) -> None:
        touched, self._touched = self._touched, []
        for tally in touched:
            tally.write()


STEP = StepTally()


class CounterTally:
    """One labelled counter (a child of `Counter.labels(...)`)."""

    __slots__ = ("_value", "_amount")

    def __init__(self, child: Any) -> None:
        self._value = child._value  # prometheus_client's value object: what Counter.inc adds to
        self._amount = 0.0

    def inc(self, amount: float = 1.0) -> None:
        first = not self._amount
        self._amount += amount
        if first:
            STEP.touched(self)

    def write(self) -> None:
        amount, self._amount = self._amount, 0.0
        if amount:
            self._value.inc(amount)


class HistogramTally:
    """One labelled histogram (a child of `Histogram.labels(...)`)."""

    __slots__ = ("_bounds", "_buckets", "_sum", "_counts", "_total", "_told")

    def __init__(self, child: Any) -> None:
        # What Histogram.observe adds to: one value per bucket (not cumulative; +Inf last) and one for the sum.
        self._bounds, self._buckets, self._sum = list(child._upper_bounds), child._buckets, child._sum
        self._counts = [0] * len(self._bounds)
        self._total = 0.0
        self._told = False

    def observe(self, amount: float) -> None:
        self._total += amount
        if amount == amount:  # observe() counts a NaN in no bucket, only in the sum
            self._counts[bisect_left(self._bounds, amount)] += 1
        if not self._told:
            self._told = True
            STEP.touched(self)

    def write(self) -> None:
        counts, total = self._counts, self._total
        self._total, self._told = 0.0, False
        for index, count in enumerate(counts):
            if count:
                self._buckets[index].inc(count)
                counts[index] = 0
        self._sum.inc(total)

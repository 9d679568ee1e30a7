"""What one ONNX Runtime call costs at each batch size, measured when a model loads.

Two uses: the batcher runs a batch on the event loop when its predicted time is shorter than a thread hand-off,
and the model runs large batches in chunks of its most efficient size (a CNN whose activations outgrow the CPU
cache costs more per row at 64 rows than at 16; a small MLP only gets cheaper per row).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Arrays = dict[str, np.ndarray]
TIMED_RUNS = 7
TIE = 1.03  # per-row costs this close count as equal; the larger batch then wins (fewer calls)


@dataclass(frozen=True)
class BatchCost:
    fixed_s: float  # per ONNX Runtime call
    per_row_s: float
    chunk_rows: int  # the most efficient batch size: larger batches run as chunks of it

    def seconds(self, rows: int) -> float:
        return math.ceil(rows / self.chunk_rows) * self.fixed_s + self.per_row_s * rows


RunFn = Callable[[Arrays], object]


def measure(run: RunFn, zeros: Callable[[int], Arrays], max_rows: int, budget_s: float) -> BatchCost:
    """Median time per call at 1, 2, 4, ... rows up to `max_rows`, within about `budget_s` of measuring."""
    seconds: dict[int, float] = {}
    spent = 0.0
    for rows in _sizes(max_rows):
        if seconds and spent + seconds[1] * rows * (TIMED_RUNS + 1) > budget_s:
            break
        started = time.perf_counter()
        seconds[rows] = _median_call(run, zeros(rows))
        spent += time.perf_counter() - started
    chunk = most_efficient({rows: t / rows for rows, t in seconds.items()}, max_rows)
    measured = max(rows for rows in seconds if rows <= chunk)
    if measured == 1:
        return BatchCost(0.0, seconds[1], chunk)
    slope = max(seconds[measured] - seconds[1], 0.0) / (measured - 1)
    return BatchCost(max(seconds[1] - slope, 0.0), slope, chunk)


def most_efficient(per_row: dict[int, float], max_rows: int) -> int:
    """The batch size with the cheapest row (the larger one on a near tie). If rows were still getting cheaper at
    the largest size measured (the budget ran out first), nothing says larger batches are worse: `max_rows`."""
    best = min(per_row.values())
    chosen = max(rows for rows, cost in per_row.items() if cost <= best * TIE)
    return max_rows if chosen == max(per_row) else chosen


def _sizes(max_rows: int) -> list[int]:
    sizes = [1 << i for i in range(max_rows.bit_length()) if 1 << i <= max_rows]
    return sizes if sizes[-1] == max_rows else [*sizes, max_rows]


def _median_call(run: RunFn, arrays: Arrays) -> float:
    run(arrays)  # ORT sizes its buffers on the first call at a new batch size
    timings = []
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        run(arrays)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)

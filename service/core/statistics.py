"""Per model version inference statistics, as Triton's statistics extension reports them: plain counters, no metrics
library, kept in this process.

Fed from two places: the data plane's infer (each request's success or failure and its duration, from arrival to
result) and the batcher's observer hook (each ONNX Runtime call: its rows, how long each request of the batch queued,
and the compute time). Counts and nanoseconds only grow; they start at zero when a version starts being served.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .batcher import BatchReport


@dataclass
class Duration:
    """How many times something happened and how long it took in total."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, times: int = 1) -> None:
        self.count += times
        self.ns += int(seconds * 1e9)


@dataclass
class VersionStatistics:
    name: str
    version: int
    success: Duration = field(default_factory=Duration)  # requests answered, arrival to result
    fail: Duration = field(default_factory=Duration)  # requests that reached the model and failed
    queue: Duration = field(default_factory=Duration)  # per request run: time waiting in the batch queue
    compute_infer: Duration = field(default_factory=Duration)  # per request run: its batch's ONNX Runtime call
    batches: dict[int, Duration] = field(default_factory=dict)  # batch size -> ONNX Runtime calls of that size
    inference_count: int = 0  # rows answered
    execution_count: int = 0  # ONNX Runtime calls (a batch of several requests counts once)
    last_inference_ms: int = 0  # wall clock, milliseconds since the epoch

    def batch_done(self, report: BatchReport) -> None:
        """The batcher's observer hook: one ONNX Runtime call of `report.rows` rows for len(waits) requests."""
        self.execution_count += 1
        for wait in report.waits:
            self.queue.add(wait)
        self.compute_infer.add(report.run_seconds, len(report.waits))
        self.batches.setdefault(report.rows, Duration()).add(report.run_seconds)

    def request_done(self, seconds: float, rows: int | None, failed: bool) -> None:
        if failed:
            self.fail.add(seconds)
            return
        self.success.add(seconds)
        self.inference_count += rows or 0
        self.last_inference_ms = int(time.time() * 1000)


class Statistics:
    """Every version's statistics since it started being served; the registry's batch observers come from here."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, int], VersionStatistics] = {}

    def of(self, name: str, version: int) -> VersionStatistics:
        key = (name, version)
        found = self._versions.get(key)
        if found is None:
            found = self._versions[key] = VersionStatistics(name, version)
        return found

    def observer_for(self, name: str, version: int) -> VersionStatistics:
        """A new batcher's observer: a version loaded again starts from zero, as a freshly loaded model does."""
        self._versions[(name, version)] = VersionStatistics(name, version)
        return self._versions[(name, version)]

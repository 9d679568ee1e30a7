"""Rows per second of several ONNX Runtime sessions, measured in one interleaved run on this machine.

The machines this runs on are shared: a burst of load from elsewhere must hit every model alike. So the
sessions take turns call by call (the order rotating each round), each call is timed alone, and a model's
speed is read from a low percentile of its call times: the calls the rest of the machine did not disturb.
Sessions run as the service runs them by default: one intra-op thread, sequential execution.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

BATCH_SIZES = (1, 8, 64)  # the batch sizes the bench reports
# Speed-ups within this fraction of 1 are within what this timing can tell apart on a busy machine.
SAME_SPEED = 0.05
_PERCENTILE = 20
_GIVE_UP = 0.5  # below this fraction of the baseline's speed, larger batches are not timed
_MIN_ROUNDS = 20  # fewer calls leave a large batch's percentile at the mercy of one burst of load
_MAX_ROUNDS = 400


@dataclass(frozen=True)
class SpeedTable:
    batches: tuple[int, ...]
    rows_per_second: dict[str, dict[int, float]]  # session name → batch size → rows/s

    def speedup(self, name: str, baseline: str, batch: int) -> float | None:
        """None where `name` was not timed at `batch`."""
        rate = self.rows_per_second[name].get(batch)
        return None if rate is None else rate / self.rows_per_second[baseline][batch]

    def best_batch(self, name: str) -> int:
        """The batch size with the most rows/s for `name`."""
        per_batch = self.rows_per_second[name]
        return max(per_batch, key=per_batch.__getitem__)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {name: {str(b): round(v, 1) for b, v in rates.items()} for name, rates in self.rows_per_second.items()}


def make_session(model: str | Path | bytes, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def batch_of(inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The first `rows` rows of every input, repeated when there are fewer."""
    have = next(iter(inputs.values())).shape[0]
    index = np.arange(rows) % have
    return {name: np.ascontiguousarray(array[index]) for name, array in inputs.items()}


def measure(
    sessions: dict[str, ort.InferenceSession],
    inputs: dict[str, np.ndarray],
    batches: tuple[int, ...] = BATCH_SIZES,
    seconds_per_batch: float = 1.5,
    baseline: str | None = None,
) -> SpeedTable:
    """rows/s of every session at every batch size, from the `_PERCENTILE`th percentile of single-call times.

    With a `baseline`, a session at less than half its speed is not timed at the larger batch sizes (dynamic
    int8 convolutions can be 10x slower, and would take most of the time): its table lacks those sizes.
    """
    rates: dict[str, dict[int, float]] = {name: {} for name in sessions}
    names = list(sessions)
    for batch in batches:
        feed = batch_of(inputs, batch)
        for session in sessions.values():  # first calls allocate; not counted
            session.run(None, feed)
        times: dict[str, list[float]] = {name: [] for name in names}
        deadline = time.perf_counter() + seconds_per_batch
        for round_index in range(_MAX_ROUNDS):
            if round_index >= _MIN_ROUNDS and time.perf_counter() > deadline:
                break
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                sessions[name].run(None, feed)
                times[name].append(time.perf_counter() - start)
        for name in names:
            rates[name][batch] = batch / float(np.percentile(times[name], _PERCENTILE))
        if baseline is not None:
            names = [n for n in names if rates[n][batch] >= _GIVE_UP * rates[baseline][batch]]
    return SpeedTable(tuple(batches), rates)


def cpu_name() -> str:
    """The CPU model, for the record: speed-ups hold for the machine they were measured on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

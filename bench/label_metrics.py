"""What the per-label metrics cost per batch: `LabelRecorder.record()` in-process, one worker and several.

`python -m bench.label_metrics [--batches N] [--rounds R]`: for the demo MLP's 5 labels and for 50 labels, at 1, 16
and 64 rows per batch, the median over R rounds of the process CPU µs per batch, with prometheus_client in memory
(WORKERS=1) and writing its multiprocess files (WORKERS > 1; measured in a child process, since prometheus_client
picks its mode when imported). Two ways: as served (record() on the event loop keeps the batch; a flush every
BATCHES_PER_FLUSH batches counts them, as the recorder's timer does), and counted at once (record() off an event
loop: a flush per batch, the worst case). Beside them, in the same run, one ONNX Runtime call of the demo MLP at
that batch size, the work the metrics are added to. Probabilities are sigmoid(N(0, 4²)) draws: most near 0 or 1,
as a trained model gives, some in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from service.telemetry.label_metrics import LabelRecorder

LABEL_COUNTS = (5, 50)
ROWS = (1, 16, 64)
# The demo MLP at c=64 runs about 1,000 batches per second per worker; the recorder flushes every 0.5 s.
BATCHES_PER_FLUSH = 500
DEMO_MODEL = Path(__file__).resolve().parents[1] / "models" / "digits" / "1" / "model.onnx"


def probabilities(rows: int, labels: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(0.0, 4.0, size=(rows, labels))
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def cpu_us_per_call(call, batches: int, rounds: int) -> float:  # noqa: ANN001
    """Median over rounds of process CPU µs per call (CPU, not wall time: the machine is shared)."""
    call()
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(batches):
            call()
        samples.append((time.process_time() - started) / batches * 1e6)
    return statistics.median(samples)


def measure_recorder(batches: int, rounds: int) -> dict[str, float]:
    """Per (labels, rows): µs per batch counted at once, and as served."""
    from service.telemetry.label_metrics import MULTIPROCESS, LabelRecorder

    results: dict[str, float] = {"multiprocess": MULTIPROCESS}
    for labels in LABEL_COUNTS:
        names = [f"label_{i}" for i in range(labels)]
        recorder = LabelRecorder("bench", 1, names, np.full(labels, 0.5), dict.fromkeys(names, 0.3))
        for rows in ROWS:
            # A few distinct batches in turn, so the buckets touched vary as they would.
            inputs = [probabilities(rows, labels, seed) for seed in range(8)]
            key = f"{labels}x{rows}"
            results[f"at_once {key}"] = cpu_us_per_call(batch_feeder(recorder, inputs, None), batches, rounds)
            served = batch_feeder(recorder, inputs, BATCHES_PER_FLUSH)
            results[f"served {key}"] = asyncio.run(on_the_loop(served, batches, rounds))
            recorder.flush()
    return results


def batch_feeder(recorder: LabelRecorder, inputs: list[np.ndarray], flush_every: int | None) -> Callable[[], None]:
    """One call = one batch recorded; with flush_every, a flush as often as the recorder's timer would run."""
    turn = iter(range(1 << 62))

    def one_batch() -> None:
        n = next(turn)
        recorder.record(inputs[n % len(inputs)])
        if flush_every and n % flush_every == flush_every - 1:
            recorder.flush()

    return one_batch


async def on_the_loop(one_batch: Callable[[], None], batches: int, rounds: int) -> float:
    return cpu_us_per_call(one_batch, batches, rounds)


def measure_demo_model(batches: int, rounds: int) -> dict[int, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(DEMO_MODEL), options, providers=["CPUExecutionProvider"])
    pixels = {rows: np.random.default_rng(rows).uniform(0, 16, (rows, 64)).astype(np.float32) for rows in ROWS}
    return {
        rows: cpu_us_per_call(lambda rows=rows: session.run(None, {"pixels": pixels[rows]}), batches, rounds)
        for rows in ROWS
    }


def in_multiprocess_mode(batches: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="label-metrics-bench-") as folder:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": folder}
        command = [sys.executable, "-m", "bench.label_metrics", "--child", f"--batches={batches}", f"--rounds={rounds}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def table(one: dict[str, float], several: dict[str, float], model: dict[int, float]) -> str:
    lines = [
        "| labels | rows | as served, 1 worker µs | as served, several workers µs | counted at once, 1 worker µs "
        "| counted at once, several workers µs | demo MLP ONNX Runtime call µs |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for labels in LABEL_COUNTS:
        for rows in ROWS:
            key = f"{labels}x{rows}"
            lines.append(
                f"| {labels} | {rows} | {one['served ' + key]:.1f} | {several['served ' + key]:.1f} "
                f"| {one['at_once ' + key]:.1f} | {several['at_once ' + key]:.1f} | {model[rows]:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.label_metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000, help="record() calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_recorder(args.batches, args.rounds)))
        return 0
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        parser.error("unset PROMETHEUS_MULTIPROC_DIR: this bench sets it for its own child process")
    one = measure_recorder(args.batches, args.rounds)
    several = in_multiprocess_mode(args.batches, args.rounds)
    assert not one["multiprocess"] and several["multiprocess"]
    print(table(one, several, measure_demo_model(args.batches, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

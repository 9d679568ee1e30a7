"""The physical limit: rows/s of ONNX Runtime called in-process, no HTTP, at several batch sizes.

`python -m bench.raw_ort MODEL.onnx [--threads N]` prints JSON {batch: rows_per_second}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import onnxruntime as ort

BATCH_SIZES = (1, 8, 64)


def rows_per_second(session: ort.InferenceSession, batch: int, seconds: float) -> float:
    spec = session.get_inputs()[0]
    rows = np.random.default_rng(0).random((batch, *spec.shape[1:]), dtype=np.float32)
    feed = {spec.name: rows}
    for _ in range(20):
        session.run(["probabilities", "logits"], feed)
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            session.run(["probabilities", "logits"], feed)
        calls += 10
    return calls * batch / (time.perf_counter() - start)


def measure(path: str, threads: int, seconds: float = 1.5) -> dict[int, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return {batch: rows_per_second(session, batch, seconds) for batch in BATCH_SIZES}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.threads, args.seconds)))

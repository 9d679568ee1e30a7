"""The text row of `make bench`: the text demo (`models/docstrings`) answering raw strings over native JSON.

For 1 and 32 texts per request: requests/s and the server's CPU µs per request under wrk (the service with its
default workers, round-robin rounds, the median round kept), and beside them, measured in this process, the CPU µs
the request's text step takes (`TextInputs.read` + `encode`: the columns validated, then standardize, split,
n-grams, vocabulary lookup and tf-idf, exactly what the server runs per request). The share of the text step is
the second over the first: how much of a text request's CPU is the step rather than HTTP, JSON, the batcher and
ONNX Runtime. The texts are the demo's held-out docstrings (`models/docstrings/examples.json`), cycled.

`python -m bench.text` prints the table alone; `python -m bench.run` puts it in the bench report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from .limit_servers import API_KEY, service_settings
from .load import Body, run_wrk
from .processes import PYTHON, ROOT, Server

TEXT_MODEL = "docstrings"
DEMO = ROOT / "models" / TEXT_MODEL
TEXTS_PER_REQUEST = (1, 32)
CONCURRENCY = 8


def demo_texts(count: int, model: str = TEXT_MODEL) -> list[str]:
    examples = json.loads((DEMO.parent / model / "examples.json").read_text())["instances"]
    return [examples[i % len(examples)] for i in range(count)]


def step_cpu_us(texts: list[str], calls: int = 2000, rounds: int = 5, name: str = TEXT_MODEL) -> float:
    """Median over rounds of this process's CPU µs for one request's text step (read + encode)."""
    from service.core.model import LoadedModel

    model = LoadedModel.load(name, 1, DEMO.parent / name / "1" / "model.onnx")
    assert model.text_inputs is not None, "the text demo model has no text step"
    step, columns = model.text_inputs, {model.input_names[0]: texts}

    def one_request() -> None:
        step.encode(step.read(name, columns, max_rows=len(texts), max_text_chars=100_000))

    one_request()
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            one_request()
        samples.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(samples)


def bench_text(
    work: Path,
    seconds: float,
    rounds: int,
    cpus: str | None,
    wrk_cpus: str | None,
    service_env: list[str] = (),
    model: str = TEXT_MODEL,
) -> dict:
    """The cells (one per texts-per-request count) and the in-process step cost of each, for a demo text model."""
    bodies = {}
    for count in TEXTS_PER_REQUEST:
        path = work / f"{model}_x{count}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"instances": demo_texts(count, model)}))
        bodies[count] = Body(path, "application/json")
    env = {**service_settings(list(service_env)), "MODEL_REPOSITORY": str(DEMO.parent), "GRPC_PORT": "0"}
    server = Server("service", [PYTHON, "-m", "service"], env, cpus)
    url = f"{server.url}/models/{model}/predict"
    cells = []
    with server:
        for count in TEXTS_PER_REQUEST:
            run_wrk(url, bodies[count], CONCURRENCY, 1, server.process.pid, wrk_cpus, API_KEY)  # warm-up, not counted
        measured: dict[int, list[dict]] = {count: [] for count in TEXTS_PER_REQUEST}
        for _ in range(rounds):  # round-robin: a burst of load from elsewhere hits both alike
            for count in TEXTS_PER_REQUEST:
                pid = server.process.pid
                measured[count].append(run_wrk(url, bodies[count], CONCURRENCY, seconds, pid, wrk_cpus, API_KEY))
    for count, runs in measured.items():
        median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        cells.append({"texts": count, "c": CONCURRENCY, **median, "rounds_rps": [round(r["rps"]) for r in runs]})
    calls = 2000 if model == TEXT_MODEL else 200
    steps = {str(count): step_cpu_us(demo_texts(count, model), calls, name=model) for count in TEXTS_PER_REQUEST}
    return {"model": model, "cells": cells, "step_cpu_us": steps}


def text_table(text: dict) -> list[str]:
    """The report's lines for a run's text measurements."""
    lines = [
        "",
        f"Text model ({text['model']}, native JSON, raw strings in; the text step timed in-process):",
        "",
        "| texts per request | conc. | req/s | texts/s | p50 ms | p99 ms | errors | server CPU µs/req "
        "| text step CPU µs/req | text step share of the CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in text["cells"]:
        step = text["step_cpu_us"][str(cell["texts"])]
        share = step / cell["cpu_us_per_request"] if cell["cpu_us_per_request"] else 0.0
        lines.append(
            f"| {cell['texts']} | {cell['c']} | {cell['rps']:,.0f} | {cell['rps'] * cell['texts']:,.0f} | "
            f"{cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['errors']} | {cell['cpu_us_per_request']:,.0f} | "
            f"{step:,.0f} | {share:.0%} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.text", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server-cpus", default=None)
    parser.add_argument("--wrk-cpus", default=None)
    args = parser.parse_args()
    work = ROOT / "bench" / "work"
    print("\n".join(text_table(bench_text(work, args.seconds, args.rounds, args.server_cpus, args.wrk_cpus))))


if __name__ == "__main__":
    main()

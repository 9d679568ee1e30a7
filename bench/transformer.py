"""The transformer rows of `make bench`: the KerasHub demo (`models/docstrings_bert`) answering raw strings.

- Serving: 1 and 32 texts per request over native JSON (bench/text.py's cells), with the tokenizer step's CPU µs per
  request measured in-process (`TextInputs.read` + `encode`: WordPiece, packing, padding) and its share of the
  server's CPU.
- Padding: float32 rows/s of the held-out docstrings in batches of 8 and 32, padded to each batch's longest text (what
  the service does) vs to sequence_length (what Keras does), one ONNX Runtime thread, interleaved rounds.
- int8 vs float32: `model_export optimize --int8 --force` on the demo and on a BERT-small class model (4 layers,
  hidden 256, sequence 128) trained the same way on the same corpus (built once into bench/work/transformer): rows/s
  at batch 1 and 8 and the per-label F1 table, as optimize prints them, and whether optimize wrote or refused it.

`python -m bench.transformer` prints the tables alone (and writes bench/results/transformer.json); `python -m
bench.run` puts them in the bench report.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from .processes import PYTHON, ROOT
from .text import bench_text, text_table

MODEL = "docstrings_bert"
DEMO = ROOT / "models" / MODEL / "1" / "model.onnx"
WORK = ROOT / "bench" / "work" / "transformer"
RESULTS = ROOT / "bench" / "results"
BERT_SMALL = {"layers": 4, "hidden": 256, "sequence_length": 128}


def held_out(work: Path) -> Path:
    from model_export.demos.docstrings import write_validation

    path = work / "held_out.jsonl"
    write_validation(path)
    return path


def bert_small(work: Path) -> Path:
    """The BERT-small class model, trained once (minutes) and kept in bench/work."""
    path = work / "bert_small" / "1" / "model.onnx"
    if not path.exists():
        options = [f"--{key.replace('_', '-')}={value}" for key, value in BERT_SMALL.items()]
        command = [PYTHON, "-m", "model_export.demos.docstrings_bert", "--output", str(path), "--epochs", "8"]
        command += ["--train-sequence-length", "32"]  # training steps 4x cheaper; served at 128 all the same
        output = subprocess.run([*command, *options, "--examples", str(work / "bert_small_examples.json")], cwd=ROOT)
        if output.returncode:
            raise SystemExit("training the BERT-small bench model failed")
    return path


def padding_rows_per_second(model: Path, texts: list[str], rounds: int = 5) -> list[dict[str, Any]]:
    from model_export.optimize.speed import make_session
    from service.contract.text.transformer_step import transformer_step_from_metadata

    session = make_session(model)
    step = transformer_step_from_metadata(session.get_modelmeta().custom_metadata_map)
    cells = []
    for batch in (8, 32):
        chunks = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)]
        feeds = {
            "sequence_length": [step.encode(chunk) for chunk in chunks],
            "longest": [step.encode(chunk, pad_to_longest=True) for chunk in chunks],
        }
        timings: dict[str, list[float]] = {kind: [] for kind in feeds}
        for _ in range(rounds):  # interleaved: a burst of load from elsewhere hits both alike
            for kind, batches in feeds.items():
                started = time.perf_counter()
                for arrays in batches:
                    session.run(["probabilities"], arrays)
                timings[kind].append(len(batches) * batch / (time.perf_counter() - started))
        speeds = {kind: statistics.median(values) for kind, values in timings.items()}
        width = statistics.mean(arrays[step.spec.token_ids_input].shape[1] for arrays in feeds["longest"])
        cells.append(
            {"batch": batch, "sequence_length": step.spec.sequence_length, "mean_width": width, "rows_per_s": speeds}
        )
    return cells


def int8_versus_float32(model: Path, data: Path) -> dict[str, Any]:
    from model_export.optimize.optimize_command import optimize_model

    result = optimize_model(model, data, WORK / f"{model.parent.parent.name}.int8.onnx", force=True)
    chosen = result.chosen
    return {
        "candidate": chosen.name,
        "speedups": {str(batch): value for batch, value in chosen.speedups.items()},
        "problems": chosen.problems,
        "worst_f1_change": -chosen.table.worst_f1_drop,
        "report": result.format(),
    }


def bench_transformer(
    work: Path, seconds: float, rounds: int, cpus: str | None, wrk_cpus: str | None, service_env: list[str] = ()
) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    data = held_out(WORK)
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()]
    return {
        "model": MODEL,
        "serving": bench_text(work, seconds, rounds, cpus, wrk_cpus, service_env, model=MODEL),
        "padding": padding_rows_per_second(DEMO, texts),
        "int8": {"demo": int8_versus_float32(DEMO, data), "bert_small": int8_versus_float32(bert_small(WORK), data)},
    }


def transformer_table(run: dict) -> list[str]:
    lines = text_table(run["serving"])
    lines[1] = f"Transformer ({run['model']}, native JSON, raw strings in; the tokenizer step timed in-process):"
    lines += [
        "",
        "Padding each batch to its longest text vs to sequence_length (float32, one thread, held-out docstrings):",
        "",
        "| batch | to sequence_length rows/s | to the longest text rows/s | mean width | gain |",
        "|---:|---:|---:|---:|---:|",
    ]
    for cell in run["padding"]:
        full, longest = cell["rows_per_s"]["sequence_length"], cell["rows_per_s"]["longest"]
        lines.append(
            f"| {cell['batch']} | {full:,.0f} (width {cell['sequence_length']}) | {longest:,.0f} | "
            f"{cell['mean_width']:.0f} | {longest / full:.2f}x |"
        )
    lines += ["", "int8 (optimize --int8) vs float32, judged at batch 1 and 8 (goal 1.5x, every F1 within 0.01):", ""]
    lines += [
        "| model | candidate | batch 1 | batch 8 | worst F1 change | optimize says |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, cell in run["int8"].items():
        one, eight = (cell["speedups"].get(batch, float("nan")) for batch in ("1", "8"))
        verdict = "; ".join(cell["problems"]) or "writes it"
        lines.append(
            f"| {name} | {cell['candidate']} | {one:.2f}x | {eight:.2f}x | {cell['worst_f1_change']:+.3f} | {verdict} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transformer", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server-cpus", default=None)
    parser.add_argument("--wrk-cpus", default=None)
    args = parser.parse_args()
    run = bench_transformer(ROOT / "bench" / "work", args.seconds, args.rounds, args.server_cpus, args.wrk_cpus)
    run["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transformer.json").write_text(json.dumps(run, indent=2, default=str))
    print("\n".join(transformer_table(run)))
    for name, cell in run["int8"].items():
        print(f"\n{name}:\n{cell['report']}")


if __name__ == "__main__":
    main()

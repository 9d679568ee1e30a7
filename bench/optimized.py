"""`python -m bench.optimized`: float32 vs int8 vs float16 rows/s and the per-label F1 table, in one run.

For each model (the trained bench CNN, a trained MobileNetV3Small, the demo MLP) it runs `model_export optimize`
for int8 and for float16 with --force (so a refused variant is still measured, and its refusal reported), then
times float32, the int8 model and the float16 model together in one interleaved run at the bench's batch sizes
(one ONNX Runtime thread, as the service runs by default). Results: bench/results/optimize.md and optimize.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import tempfile
from pathlib import Path

from model_export.data.model_rows import model_feeds
from model_export.demos.digits import write_validation
from model_export.optimize.optimize_command import optimize_model
from model_export.optimize.speed import BATCH_SIZES, cpu_name, make_session, measure

from .processes import PYTHON, ROOT

WORK = ROOT / "bench" / "work" / "optimize"
RESULTS = ROOT / "bench" / "results"
DEMO_MODEL = ROOT / "models" / "digits" / "1" / "model.onnx"
TITLES = {"cnn": "bench CNN (trained)", "mobilenet": "MobileNetV3Small 96x96 (trained)", "mlp": "demo MLP"}
VARIANTS = ("int8", "float16")


def trained_models() -> dict[str, dict[str, str]]:
    """The trained CNN and backbone (built once, cached in bench/work/optimize) and the demo MLP."""
    made = WORK / "models.json"
    if not made.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        command = [PYTHON, "-m", "bench.trained_models", str(WORK)]
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if output.returncode:
            raise SystemExit(f"training the optimize bench models failed:\n{output.stderr[-3000:]}")
        made.write_text(output.stdout)
    models = json.loads(made.read_text())
    validation = WORK / "mlp_validation.npz"
    write_validation(validation)
    return {**models, "mlp": {"onnx": str(DEMO_MODEL), "validation": str(validation)}}


def bench_model(name: str, paths: dict[str, str], seconds: float, workdir: Path) -> dict:
    model, validation = Path(paths["onnx"]), Path(paths["validation"])
    variants = {}
    for variant in VARIANTS:
        output = workdir / f"{name}_{variant}.onnx"
        result = optimize_model(model, validation, output, variant=variant, force=True, seconds_per_batch=seconds)
        variants[variant] = {"path": output, "result": result}
    float_session = make_session(model)
    inputs = model_feeds(validation, float_session, model).feeds
    sessions = {"float32": float_session, **{v: make_session(info["path"]) for v, info in variants.items()}}
    speed = measure(sessions, inputs, BATCH_SIZES, seconds_per_batch=seconds)
    return {
        "title": TITLES[name],
        "rows_per_second": speed.as_dict(),
        "variants": {
            v: {
                "candidate": info["result"].chosen.name,
                "refused_because": info["result"].chosen.problems,
                "labels": {c.label: c.as_dict() for c in info["result"].chosen.table.labels},
                "deviation": info["result"].chosen.table.deviation(),
                "thresholds": info["result"].thresholds_note,
                "candidates": info["result"].entry["candidates"],
            }
            for v, info in variants.items()
        },
    }


def render(run: dict) -> str:
    lines = [
        f"Optimize bench {run['date']} on {run['cpu']}, ONNX Runtime {run['onnxruntime']}, one intra-op thread; "
        "rows/s from the 20th percentile of interleaved single calls on the held-out rows.",
        "",
        "| model | batch | float32 rows/s | int8 rows/s | int8 speed-up | float16 rows/s | float16 speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for data in run["models"].values():
        rates = data["rows_per_second"]
        for batch in map(str, BATCH_SIZES):
            base = rates["float32"][batch]
            cells = []
            for variant in VARIANTS:
                rate = rates[variant][batch]
                cells += [f"{rate:,.0f}", f"{rate / base:.2f}x"]
            lines.append(f"| {data['title']} | {batch} | {base:,.0f} | " + " | ".join(cells) + " |")
    lines += ["", "What `optimize` decides (without --force):", ""]
    for data in run["models"].values():
        for variant, info in data["variants"].items():
            verdict = "refused: " + "; ".join(info["refused_because"]) if info["refused_because"] else "written"
            dev = info["deviation"]
            lines.append(
                f"- {data['title']}, {variant}: {info['candidate']} {verdict}; max abs deviation {dev['max_abs']:g}, "
                f"multi-hot changed on {dev['changed_rows']} of {dev['rows']} rows"
            )
    for data in run["models"].values():
        info = data["variants"]["int8"]
        lines += [
            "",
            f"{data['title']}, {info['candidate']}: per-label scores, float32 at its thresholds -> int8 at its "
            f"thresholds ({info['thresholds']})",
            "",
            "| label | threshold | precision | recall | F1 | F1 change |",
            "|---|---|---|---|---|---:|",
        ]
        for label, entry in info["labels"].items():
            before, after = entry["before"], entry["after"]
            lines.append(
                f"| {label} | {entry['threshold_before']:g} → {entry['threshold']:g} | "
                f"{before['precision']:.3f} → {after['precision']:.3f} | {before['recall']:.3f} → "
                f"{after['recall']:.3f} | {before['f1']:.3f} → {after['f1']:.3f} | {0.0 - entry['f1_drop']:+.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(TITLES), help=f"comma-separated, of {', '.join(TITLES)}")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per batch size (at least 20 rounds)")
    args = parser.parse_args()
    import onnxruntime

    models = trained_models()
    run = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "onnxruntime": onnxruntime.__version__,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-optimize.") as workdir:
        for name in args.models.split(","):
            run["models"][name] = bench_model(name, models[name], args.seconds, Path(workdir))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "optimize.json").write_text(json.dumps(run, indent=2, default=str))
    table = render(run)
    (RESULTS / "optimize.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

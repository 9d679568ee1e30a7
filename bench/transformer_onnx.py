"""KerasHub text classifiers in ONNX Runtime: padding to the batch's longest text, and int8 dynamic quantization.

Two configurations built offline (model_export/demos/kerashub_tasks.py): `tiny` (BERT, 2 layers, hidden 32) and
`bert-small` (BERT, 4 layers, hidden 256, 4 heads, intermediate 512), both with sequence_length 128. Each is exported
with `export_kerashub_task`, then quantized with `onnxruntime.quantization.quantize_dynamic` on MatMul (int8 weights).
Texts: bench/transformer_tokenizers.py's sample sentences (5 to 60 words). Sessions use one intra-op thread, as each
service worker does; variants are timed in interleaved rounds in this one process and the median round is kept.
Run: `python -m bench.transformer_onnx`. Numbers, not assertions: the machine may be shared.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.transformer_tokenizers import sample_texts  # noqa: E402

CONFIGS = {
    "tiny": {"layers": 2, "hidden": 32, "train_steps": 60},
    "bert-small": {"layers": 4, "hidden": 256, "train_steps": 20},
}


def session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def rows_per_second(run: Any, batches: list[dict[str, np.ndarray]]) -> float:
    rows = sum(len(next(iter(batch.values()))) for batch in batches)
    start = time.perf_counter()
    for batch in batches:
        run(batch)
    return rows / (time.perf_counter() - start)


def export_pair(name: str, directory: Path) -> tuple[Path, Path, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from model_export.demos.kerashub_tasks import build_task
    from model_export.keras.kerashub import export_kerashub_task
    from service.contract.text.transformer_step import TransformerTextStep

    config = CONFIGS[name]
    task = build_task("bert", sequence_length=128, **config)
    model, spec = export_kerashub_task(task)
    float_path, int8_path = directory / f"{name}.onnx", directory / f"{name}.int8.onnx"
    float_path.write_bytes(model.SerializeToString())
    quantize_dynamic(float_path, int8_path, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    return float_path, int8_path, TransformerTextStep(spec)


def measure(name: str, directory: Path, rounds: int = 5) -> list[str]:
    float_path, int8_path, step = export_pair(name, directory)
    sessions = {"float32": session(float_path), "int8": session(int8_path)}
    texts = sample_texts(256, seed=7)
    lines = []
    # int8 vs float32 at batch 1 and 8, padded to each batch's longest text (what the service would send).
    for batch_size in (1, 8):
        batches = [step.encode(texts[i : i + batch_size], pad_to_longest=True) for i in range(0, 64, batch_size)]
        timings: dict[str, list[float]] = {kind: [] for kind in sessions}
        for _ in range(rounds):
            for kind, ort_session in sessions.items():
                timings[kind].append(rows_per_second(lambda feed, s=ort_session: s.run(None, feed), batches))
        speeds = {kind: statistics.median(values) for kind, values in timings.items()}
        lines.append(
            f"| {name} | batch {batch_size} | float32 {speeds['float32']:.0f} rows/s "
            f"| int8 {speeds['int8']:.0f} rows/s "
            f"| int8/float32 {speeds['int8'] / speeds['float32']:.2f}x |"
        )
    full = np.concatenate([sessions["float32"].run(None, step.encode(texts[i : i + 8]))[0] for i in range(0, 256, 8)])
    quantized = np.concatenate([sessions["int8"].run(None, step.encode(texts[i : i + 8]))[0] for i in range(0, 256, 8)])
    sigmoid = lambda values: 1 / (1 + np.exp(-values))  # noqa: E731
    lines.append(
        f"| {name} | int8 vs float32 over 256 texts | max abs logit diff {np.abs(full - quantized).max():.2e} "
        f"| max abs probability diff {np.abs(sigmoid(full) - sigmoid(quantized)).max():.2e} | |"
    )
    # Padding to sequence_length (128) vs to the batch's longest text, float32, batch 8 and 32, for the long
    # sentences above and for short ones (2 to 20 words).
    for label, padding_texts in (("long", texts), ("short", sample_texts(128, seed=8, words_per_text=(2, 20)))):
        for batch_size in (8, 32):
            lines.append(padding_line(name, label, sessions["float32"], step, padding_texts[:128], batch_size, rounds))
    return lines


def padding_line(
    name: str, label: str, ort_session: Any, step: Any, texts: list[str], batch_size: int, rounds: int
) -> str:
    padded = {
        "sequence_length": [step.encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)],
        "longest": [
            step.encode(texts[i : i + batch_size], pad_to_longest=True) for i in range(0, len(texts), batch_size)
        ],
    }
    timings: dict[str, list[float]] = {kind: [] for kind in padded}
    for _ in range(rounds):
        for kind, batches in padded.items():
            timings[kind].append(rows_per_second(lambda feed: ort_session.run(None, feed), batches))
    speeds = {kind: statistics.median(values) for kind, values in timings.items()}
    width = statistics.mean(batch["token_ids"].shape[1] for batch in padded["longest"])
    return (
        f"| {name} | padding, {label} texts, batch {batch_size} | to 128: {speeds['sequence_length']:.0f} rows/s "
        f"| to longest (mean width {width:.0f}): {speeds['longest']:.0f} rows/s "
        f"| {speeds['longest'] / speeds['sequence_length']:.2f}x |"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        for name in CONFIGS:
            for line in measure(name, Path(directory)):
                print(line, flush=True)


if __name__ == "__main__":
    main()

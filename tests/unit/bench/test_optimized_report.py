"""The optimize bench's table: speed-ups and verdicts come from the cells of one run (no timing asserted)."""

from __future__ import annotations

from bench.optimized import render


def label(before_f1: float, after_f1: float) -> dict:
    scores = {"precision": 0.9, "recall": 0.9}
    return {"threshold_before": 0.5, "threshold": 0.45, "before": {**scores, "f1": before_f1},
            "after": {**scores, "f1": after_f1}, "f1_drop": before_f1 - after_f1}  # fmt: skip


def variant(candidate: str, problems: list[str]) -> dict:
    deviation = {"max_abs": 0.02, "changed_rows": 3, "rows": 450}
    return {"candidate": candidate, "refused_because": problems, "labels": {"even": label(0.95, 0.94)},
            "deviation": deviation, "thresholds": "thresholds re-chosen", "candidates": {}}  # fmt: skip


def test_speedups_and_verdicts_come_from_the_run():
    rates = {"float32": {"1": 1000.0, "8": 2000.0, "64": 2000.0}, "int8": {"1": 1500.0, "8": 3000.0, "64": 4000.0},
             "float16": {"1": 900.0, "8": 1000.0, "64": 1000.0}}  # fmt: skip
    run = {
        "date": "2026-11-28T00:00:00+00:00",
        "cpu": "test CPU",
        "onnxruntime": "1.32.0",
        "models": {
            "cnn": {
                "title": "bench CNN (trained)",
                "rows_per_second": rates,
                "variants": {
                    "int8": variant("int8 static QDQ", []),
                    "float16": variant("float16", ["slower than float32 (0.90x at batch 1)"]),
                },
            }
        },
    }
    table = render(run)
    assert "| bench CNN (trained) | 64 | 2,000 | 4,000 | 2.00x | 1,000 | 0.50x |" in table
    assert "- bench CNN (trained), int8: int8 static QDQ written;" in table
    assert "- bench CNN (trained), float16: float16 refused: slower than float32 (0.90x at batch 1);" in table
    assert "| even | 0.5 → 0.45 | 0.900 → 0.900 | 0.900 → 0.900 | 0.950 → 0.940 | -0.010 |" in table

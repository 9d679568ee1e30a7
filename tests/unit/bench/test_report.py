"""The bench's report: the ratios and target lines come from the cells of one run (no timing is asserted here)."""

from __future__ import annotations

from bench.report import render
from bench.run import rows_per_request


def cell(server: str, protocol: str, c: int, rps: float, p99: float = 10.0) -> dict:
    rows = rows_per_request(protocol)
    return {"server": server, "protocol": protocol, "c": c, "rps": rps, "p50_ms": 1.0, "p99_ms": p99, "errors": 0,
            "cpu_us_per_request": 100.0, "rows_per_request": rows}  # fmt: skip


def run() -> dict:
    servers = {"service": {"cold_start_s": 0.5, "tensorflow_loaded": False, "rss_mb": {"1": 90.0}}}
    return {
        "date": "2026-11-27T00:00:00+00:00",
        "machine": {"cpu": "test", "cores": 2, "python": "3.11", "load_avg": (0.0, 0.0, 0.0)},
        "pinning": {"server": None, "wrk": None},
        "seconds_per_cell": 2.0,
        "rounds": 3,
        "settings": {},
        "models": {
            "mlp": {
                "raw_ort": {"1": {"1": 100_000.0}},
                "servers": servers,
                "cells": [cell("service", "json", 64, 3000, p99=24.0), cell("minimal", "json", 64, 1000)],
            },
            "cnn": {
                "raw_ort": {"1": {"1": 9_000.0, "8": 11_000.0}, "2": {"8": 20_000.0}},
                "servers": {},
                "cells": [
                    cell("service", "json", 64, 300),
                    cell("minimal", "json", 64, 100),
                    cell("service", "v2-binary", 8, 2000),
                    cell("service", "v2-binary x8", 8, 1000),
                    cell("service", "v2-binary x64", 8, 160),
                    cell("service-1w", "v2-binary x64", 8, 170),
                ],
            },
        },
    }


def test_rows_per_request_come_from_the_protocol_name() -> None:
    assert [rows_per_request(p) for p in ("json", "v2-binary", "v2-binary x8", "v2-binary x64")] == [1, 1, 8, 64]


def test_targets_are_judged_from_the_cells_of_the_run() -> None:
    report = render(run())
    assert "- met: MLP c=64 >= 2.5x minimal req/s (3.0x)" in report
    assert "- met: MLP c=64 p99 <= 25 ms (24.0 ms)" in report
    assert "- met: CNN c=64 JSON >= 2.5x minimal req/s (3.0x)" in report
    # Raw ONNX Runtime's best over threads and batch sizes is 20,000 rows/s.
    assert "- NOT met: CNN v2-binary (1 rows/request) >= 50% of raw ORT best rows/s (10%)" in report
    assert "- NOT met: CNN v2-binary x8 (8 rows/request) >= 50% of raw ORT best rows/s (40%)" in report
    assert "- met: CNN v2-binary x64 (64 rows/request) >= 50% of raw ORT best rows/s (51%)" in report
    # WORKERS=1 is judged on its own cells, and only on what was measured for it.
    assert "- met: CNN v2-binary x64 (64 rows/request) >= 50% of raw ORT best rows/s [WORKERS=1] (54%)" in report
    assert "- cnn: sigmoid-serve WORKERS=1 v2-binary x64 (64 rows/request) best 10,880 rows/s (c=8)" in report
    assert "MLP c=64 p99 <= 25 ms [WORKERS=1]" not in report


def test_the_baseline_commit_and_the_per_label_metrics_cost_are_judged_from_the_cells() -> None:
    measured = run()
    measured["baseline"] = "abc1234"
    measured["models"]["mlp"]["cells"] += [
        cell("baseline", "json", 64, 3100),  # 3000 / 3100 = 0.97: within 5%
        cell("service", "v2-binary", 64, 2000),
        cell("baseline", "v2-binary", 64, 2500),  # 0.80: not
        cell("service-labels-off", "json", 64, 3090),  # on 3000 / off 3090: 2.9% cost
    ]
    report = render(measured)
    assert "- mlp json c=64: 3,000 / 3,100 = 0.97x" in report
    assert "- mlp v2-binary c=64: 2,000 / 2,500 = 0.80x" in report
    assert "- NOT met: every REST row within 5% of abc1234 or faster (lowest 0.80x)" in report
    assert "- met: per-label metrics cost <= 5% of the MLP's req/s at c=64 (+2.9%)" in report
    assert "per-label metrics on 3,000 req/s, off 3,090 req/s (-2.9%)" in report


def test_the_text_row_shows_the_text_step_share_of_the_cpu() -> None:
    measured = run()
    text_cell = {"c": 8, "p50_ms": 2.0, "p99_ms": 9.0, "errors": 0, "requests": 1000}
    measured["text"] = {
        "model": "docstrings",
        "cells": [
            {**text_cell, "texts": 1, "rps": 900.0, "cpu_us_per_request": 800.0},
            {**text_cell, "texts": 32, "rps": 300.0, "cpu_us_per_request": 2000.0},
        ],
        "step_cpu_us": {"1": 40.0, "32": 500.0},
    }
    report = render(measured)
    assert "| 1 | 8 | 900 | 900 | 2.00 | 9.00 | 0 | 800 | 40 | 5% |" in report
    assert "| 32 | 8 | 300 | 9,600 | 2.00 | 9.00 | 0 | 2,000 | 500 | 25% |" in report
    assert "Text model" not in render(run())


def test_the_transformer_rows_show_tokenizer_share_padding_and_int8() -> None:
    measured = run()
    cell = {"c": 8, "p50_ms": 5.0, "p99_ms": 20.0, "errors": 0, "requests": 1000}
    measured["transformer"] = {
        "model": "docstrings_bert",
        "serving": {
            "model": "docstrings_bert",
            "cells": [
                {**cell, "texts": 1, "rps": 400.0, "cpu_us_per_request": 2000.0},
                {**cell, "texts": 32, "rps": 50.0, "cpu_us_per_request": 16000.0},
            ],
            "step_cpu_us": {"1": 100.0, "32": 3200.0},
        },
        "padding": [
            {
                "batch": 8,
                "sequence_length": 64,
                "mean_width": 21.0,
                "rows_per_s": {"sequence_length": 500.0, "longest": 1500.0},
            }
        ],
        "int8": {
            "demo": {
                "candidate": "int8 dynamic",
                "speedups": {"1": 1.1, "8": 1.2},
                "problems": ["slower than 1.5x float32"],
                "worst_f1_change": -0.004,
            }
        },
    }
    report = render(measured)
    assert "Transformer (docstrings_bert, native JSON" in report
    assert "| 32 | 8 | 50 | 1,600 | 5.00 | 20.00 | 0 | 16,000 | 3,200 | 20% |" in report
    assert "| 8 | 500 (width 64) | 1,500 | 21 | 3.00x |" in report
    assert "| demo | int8 dynamic | 1.10x | 1.20x | -0.004 | slower than 1.5x float32 |" in report
    assert "Transformer" not in render(run())

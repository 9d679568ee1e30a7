"""The Python-limit section of the bench report, the py-spy layer charging and the bench's service settings: ratios
and verdicts come from the cells given (no timing is measured or asserted here)."""

from __future__ import annotations

import argparse

from bench.limit_report import limit_lines, limit_targets
from bench.limit_servers import API_KEY, quick, service_settings
from bench.pyspy_profile import OTHER, layer_of, shares
from bench.report import SERVER_NAMES


def cell(server: str, protocol: str, rps: float, cpu: float) -> dict:
    return {"server": server, "protocol": protocol, "c": 64, "rps": rps, "cpu_us_per_request": cpu}


def run(json_rps: float, grpc_cpu: float) -> dict:
    cells = [
        cell("limit", "json", 10_000, 70),
        cell("limit", "v2-binary", 10_000, 70),
        cell("limit", "grpc-raw", 3_000, 300),
        cell("service-1w", "json", json_rps, 105),
        cell("service-1w", "v2-binary", 6_000, 110),
        cell("service-1w", "grpc-raw", 2_000, grpc_cpu),
    ]
    return {"models": {"mlp": {"cells": cells}}}


def test_rows_show_their_ratio_to_the_limit_of_their_protocol() -> None:
    lines = limit_lines(run(7_000, 400), SERVER_NAMES)
    json_row = next(line for line in lines if "WORKERS=1 | json" in line)
    assert "| 7,000 | 0.70x | 105 | 1.50x |" in json_row
    grpc_row = next(line for line in lines if line.startswith("| mlp | sigmoid-serve WORKERS=1 | 64 |"))
    # 400 µs per call: 1.33x the bare gRPC servicer's, 3.81x the same server's JSON, 3.64x its v2 binary.
    assert "| 1.33x | 3.81x | 3.64x |" in grpc_row


def test_targets_are_judged_on_one_worker_at_c64() -> None:
    met = limit_targets(run(7_000, 150))
    assert "- met: MLP json at 1 worker, c=64 >= 0.67x the Python limit's req/s (0.70x)" in met
    assert "- NOT met: MLP v2-binary at 1 worker, c=64 >= 0.67x the Python limit's req/s (0.60x)" in met
    assert any(line.startswith("- met: MLP gRPC") and "json REST route's (1.43x)" in line for line in met)
    assert any(line.startswith("- NOT met: MLP json") for line in limit_targets(run(6_000, 150)))


def test_a_run_without_limit_rows_has_no_section() -> None:
    assert limit_lines({"models": {"mlp": {"cells": [cell("service", "json", 1, 1)]}}}, SERVER_NAMES) == []


def test_the_service_runs_with_one_api_key_unless_the_bench_is_told_otherwise() -> None:
    assert service_settings(["WORKERS=1"]) == {"WORKERS": "1", "API_KEYS": API_KEY}
    assert service_settings(["API_KEYS="]) == {"API_KEYS": ""}


def test_quick_keeps_the_limit_and_the_one_worker_service() -> None:
    args = argparse.Namespace(quick=True, rounds=5, models="mlp,cnn", servers="x", concurrency="1,8,64")
    quick(args)
    assert (args.models, args.concurrency, args.rounds) == ("mlp", "64", 3)
    assert args.servers.split(",") == [
        "limit",
        "limit-grpc-sync",
        "limit-grpc-sync-loop",
        "limit-grpclib",
        "service-1w",
    ]


def test_samples_go_to_the_innermost_frame_of_a_service_layer() -> None:
    validation = (
        "run (asyncio/events.py:80);_infer (service/core/dataplane.py:250);to_array (service/core/inputs.py:99)"
    )
    assert layer_of(validation + ";asarray (numpy/core.py:1)") == "validation (core/inputs.py)"
    assert layer_of("run (asyncio/events.py:80);_run_once (uvloop/loop.pyx:1)") == "event loop (asyncio, uvloop)"
    assert layer_of("0x1 (libc.so.6);PyThread_acquire_lock_timed (libpython)") is None  # a waiting thread
    assert layer_of("main (python)") == OTHER
    counted = shares(f"{validation} 3\nmain (python) 1\n")
    assert counted == {"validation (core/inputs.py)": 0.75, OTHER: 0.25}

"""Request bodies and the wrk runs that load a server with them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .processes import cpu_seconds

LUA = Path(__file__).with_name("post.lua")


@dataclass
class Body:
    path: Path
    content_type: str
    header_length: int | None = None  # KServe v2 binary: the JSON header's length


def one_row(shape: tuple[int, ...]) -> np.ndarray:
    return np.round(np.random.default_rng(1).random((1, *shape)), 4).astype(np.float32)


def json_body(rows: np.ndarray, path: Path) -> Body:
    path.write_text(json.dumps({"instances": rows.astype(float).round(4).tolist()}))
    return Body(path, "application/json")


def v2_binary_body(rows: np.ndarray, input_name: str, path: Path) -> Body:
    """KServe v2 binary tensor extension: a JSON header, then the raw little-endian tensor bytes."""
    data = np.ascontiguousarray(rows, dtype="<f4").tobytes()
    header = {
        "inputs": [
            {
                "name": input_name,
                "shape": list(rows.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(data)},
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }
    encoded = json.dumps(header).encode()
    path.write_bytes(encoded + data)
    return Body(path, "application/octet-stream", len(encoded))


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    return found


def run_wrk(
    url: str,
    body: Body,
    connections: int,
    seconds: float,
    server_pid: int,
    cpus: str | None = None,
    api_key: str = "",
) -> dict[str, float]:
    """One load cell: wrk for `seconds` at `connections`; req/s, latency percentiles, errors, server CPU/request."""
    duration = f"{max(1, round(seconds))}s"
    command = [wrk_path(), "-t", "1", "-c", str(connections), "-d", duration, "--timeout", "10s", "-s", str(LUA)]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    env = {
        **os.environ,
        "BENCH_BODY": str(body.path),
        "BENCH_CONTENT_TYPE": body.content_type,
        "BENCH_HEADER_LENGTH": str(body.header_length or ""),
        "BENCH_AUTHORIZATION": f"Bearer {api_key}" if api_key else "",
    }
    cpu_before = cpu_seconds(server_pid)
    output = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=True).stdout
    cpu_used = wait_until_idle(server_pid) - cpu_before
    line = next(x for x in output.splitlines() if x.startswith("BENCH_JSON "))
    stats = json.loads(line.removeprefix("BENCH_JSON "))
    requests = max(stats["requests"], 1)
    return {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "errors": stats["errors"],
        "requests": stats["requests"],
        "cpu_us_per_request": cpu_used / requests * 1e6,
    }


def wait_until_idle(pid: int, limit_s: float = 15.0) -> float:
    """The server's CPU seconds once it has stopped working on requests wrk left behind (a slow server still
    runs them after wrk hangs up): that work is counted, and the next cell starts on a quiet server."""
    deadline = time.monotonic() + limit_s
    used = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - used < 0.005:
            return now
        used = now
    return used

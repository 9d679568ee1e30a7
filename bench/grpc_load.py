"""gRPC load: the bench's ModelInfer cells, with h2load (Debian's nghttp2-client) as the load generator.

wrk speaks HTTP/1.1 only, and no gRPC load generator is packaged for Debian (no ghz). gRPC is HTTP/2: a unary call
is a POST of one length-prefixed protobuf message with `content-type: application/grpc` and `te: trailers`. h2load,
a C HTTP/2 load generator like wrk is for HTTP/1.1, sends a prebuilt ModelInferRequest (built with tritonclient's own
copy of the protocol, raw tensor contents) that way, one connection per concurrent client as wrk does, and writes
every request's latency to a log. It does not read gRPC trailers, so a call the server refused still counts as an
HTTP 200 there: the errors column comes from the server's own metrics (sigmoid_serve_requests_total with
protocol="grpc" and a status other than OK), before and after each cell. The load generator's own CPU per request is
measured too (it shares the machine's cores with the server).
"""

from __future__ import annotations

import resource
import shutil
import struct
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .load import wait_until_idle
from .processes import cpu_seconds

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def grpc_body(rows: np.ndarray, model: str, input_name: str, path: Path) -> Path:
    """One ModelInferRequest with the rows as raw little-endian FP32 bytes, asking for the probabilities, framed
    as a gRPC message (1 byte: not compressed, 4 bytes: big-endian length)."""
    from tritonclient.grpc import service_pb2  # the client's copy of the messages, not the server's

    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name=input_name, datatype="FP32", shape=list(rows.shape))
    request.outputs.add(name="probabilities")
    request.raw_input_contents.append(np.ascontiguousarray(rows, dtype="<f4").tobytes())
    message = request.SerializeToString()
    path.write_bytes(struct.pack(">?I", False, len(message)) + message)
    return path


def h2load_path() -> str:
    found = shutil.which("h2load")
    if not found:
        raise SystemExit("h2load is not installed: `apt-get install -y nghttp2-client` (make bench does it)")
    return found


def run_h2load(
    grpc_port: int,
    http_url: str,
    body: Path,
    connections: int,
    seconds: float,
    server_pid: int,
    cpus: str | None,
    api_key: str = "",
) -> dict[str, float]:
    """One load cell: h2load for `seconds` at `connections` (one stream each); the same fields as a wrk cell."""
    errors_before = _grpc_errors(http_url)
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        command = [h2load_path(), "-c", str(connections), "-m", "1", "-t", "1", "-D", str(max(1, round(seconds)))]
        command += ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
        if api_key:
            command += ["-H", f"authorization: Bearer {api_key}"]
        command += ["--log-file", log.name, f"http://127.0.0.1:{grpc_port}{INFER_PATH}"]
        if cpus:
            command = ["taskset", "-c", cpus, *command]
        cpu_before = cpu_seconds(server_pid)
        children_before = _children_cpu()
        subprocess.run(command, capture_output=True, text=True, check=True)
        load_cpu = _children_cpu() - children_before
        cpu_used = wait_until_idle(server_pid) - cpu_before
        latencies, statuses, started, ended = _read_log(Path(log.name))
    requests = max(len(latencies), 1)
    refused = sum(status != 200 for status in statuses) + _grpc_errors(http_url) - errors_before
    return {
        "rps": len(latencies) / max(ended - started, 1e-9),
        "p50_ms": float(np.percentile(latencies, 50)) / 1000 if latencies else 0.0,
        "p99_ms": float(np.percentile(latencies, 99)) / 1000 if latencies else 0.0,
        "errors": refused,
        "requests": len(latencies),
        "cpu_us_per_request": cpu_used / requests * 1e6,
        "load_cpu_us_per_request": load_cpu / requests * 1e6,
    }


def _read_log(path: Path) -> tuple[list[float], list[int], float, float]:
    """h2load's log: one line per request, `start (µs since the run began) TAB status TAB latency (µs)`."""
    latencies, statuses, starts, ends = [], [], [], []
    for line in path.read_text().splitlines():
        start_us, status, latency_us = line.split("\t")[:3]
        latencies.append(float(latency_us))
        statuses.append(int(status))
        starts.append(float(start_us))
        ends.append(float(start_us) + float(latency_us))
    if not latencies:
        return [], [], 0.0, 0.0
    return latencies, statuses, min(starts) / 1e6, max(ends) / 1e6


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _grpc_errors(http_url: str) -> int:
    """gRPC calls the server refused (a status other than OK), from its Prometheus metrics (all workers)."""
    with urllib.request.urlopen(f"{http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("sigmoid_serve_requests_total{") or 'protocol="grpc"' not in line:
            continue
        # CANCELLED: h2load hung up on the calls in flight when its window ended, as wrk does; not an answer.
        if 'status="OK"' not in line and 'status="CANCELLED"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def is_grpc(protocol: str) -> bool:
    return protocol.startswith(GRPC_RAW)


GRPC_RAW = "grpc-raw"  # the cells' protocol name: ModelInfer with raw_input_contents (xN: N rows per request)

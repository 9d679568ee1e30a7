"""Where a server's CPU goes by thread, user and system time: `python -m bench.thread_cpu [--seconds 10]`.

Starts the Python limit (bench/limit_app.py, gRPC on grpc.aio) and this service (1 worker, one API key), loads each
with wrk (native JSON) and h2load (gRPC ModelInfer, raw tensor bytes) at c=64, one cell after the other, and reads
every thread's utime and stime from /proc before and after each cell. Prints one JSON line per cell: CPU µs per
request of the process, split into the main thread (Python: the event loop), grpc's C-core threads, ONNX Runtime's
threads and the rest, each as user + system. It is what tells a gRPC call's cost apart from a REST request's: how
much of it is spent outside the Python thread, and in the kernel (docs/performance/profile.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

from .grpc_load import grpc_body, run_h2load
from .limit_servers import API_KEY, service_settings
from .load import json_body, one_row, run_wrk
from .processes import CLOCK_TICKS, PYTHON, ROOT, Server, free_port

MODEL = ROOT / "models" / "digits" / "1" / "model.onnx"


def thread_group(pid: int, tid: int, name: str) -> str:
    if tid == pid:
        return "main (Python: the event loop)"
    if name.startswith("onnxruntime"):
        return "ONNX Runtime"
    if name.startswith(("grpc", "event_engine", "lifeguard", "default-execu", "resolver")):
        return "grpc C-core (event engine, timers)"
    if name.startswith("python"):  # threads Python started: grpc.aio's completion-queue poller
        return "other Python threads (grpc.aio's poller)"
    return "other (uvloop's workers, ...)"


def thread_times(pid: int) -> dict[str, list[float]]:
    """Group -> [user s, system s] summed over the process's live threads; "process" holds the whole process's."""
    groups: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        group = groups[thread_group(pid, int(task.name), name)]
        group[0] += int(fields[11]) / CLOCK_TICKS
        group[1] += int(fields[12]) / CLOCK_TICKS
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    groups["process"] = [int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS]
    return groups


def cell(server: Server, protocol: str, bodies: dict, seconds: float) -> dict:
    pid = server.process.pid
    before = thread_times(pid)
    if protocol == "grpc-raw":
        port = int(server.env["GRPC_PORT"])
        load = run_h2load(port, server.url, bodies[protocol], 64, seconds, pid, None, API_KEY)
    else:
        load = run_wrk(server.url + "/predict", bodies[protocol], 64, seconds, pid, None, API_KEY)
    after = thread_times(pid)
    requests = max(load["requests"], 1)
    split = {
        group: {
            "user_us": round((times[0] - before.get(group, [0.0, 0.0])[0]) / requests * 1e6, 1),
            "system_us": round((times[1] - before.get(group, [0.0, 0.0])[1]) / requests * 1e6, 1),
        }
        for group, times in sorted(after.items())
    }
    return {"server": server.name, "protocol": protocol, "rps": round(load["rps"]), "per_request": split}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.thread_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="thread-cpu-", dir=ROOT / "bench" / "work"))
    import onnxruntime as ort

    name = ort.InferenceSession(str(MODEL)).get_inputs()[0].name
    rows = one_row((64,))
    bodies = {"json": json_body(rows, work / "b.json"), "grpc-raw": grpc_body(rows, "digits", name, work / "b.grpc")}
    uvicorn = [PYTHON, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--loop", "uvloop"]
    limit_port = str(free_port())
    limit = Server(
        "limit",
        [*uvicorn, "--http", "httptools", "--no-access-log", "bench.limit_app:app"],
        {"LIMIT_MODEL": str(MODEL), "LIMIT_GRPC_PORT": limit_port, "GRPC_PORT": limit_port, "LIMIT_GRPC": "aio"},
    )
    env = service_settings([]) | {"WORKERS": "1", "GRPC_PORT": str(free_port())}
    env |= {"MODEL_REPOSITORY": str(ROOT / "models"), "DEFAULT_MODEL": "digits"}
    service = Server("service-1w", [PYTHON, "-m", "service"], env)
    for server in (limit, service):
        server.start()
        try:
            for protocol in ("json", "grpc-raw"):
                cell(server, protocol, bodies, 1)  # warm-up
                print(json.dumps(cell(server, protocol, bodies, args.seconds)), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

"""`python -m bench.run`: load this service and two baselines on loopback, print and save one table.

Cells: model (mlp, cnn) x server (this service JSON, this service v2 binary when the route answers, minimal
FastAPI + ONNX Runtime, naive FastAPI + Keras) x concurrency (1, 8, 64), each a fixed short wrk run. Plus raw
in-process ONNX Runtime rows/s (the limit), cold start to /health/ready, RSS per worker, a TensorFlow check, and
the text demo's row (bench/text.py: 1 and 32 texts per request, and the text step's share of the CPU).
Results: bench/results/latest.md and latest.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .baseline import REST_PROTOCOLS, checkout
from .grpc_load import GRPC_RAW, grpc_body, is_grpc, run_h2load
from .limit_servers import API_KEY, LIMITS, QUICK_HELP, limit_servers, quick, service_settings
from .load import Body, json_body, one_row, run_wrk, v2_binary_body
from .processes import PYTHON, ROOT, Server, free_port, loads_tensorflow, rss_mb
from .report import render
from .text import bench_text
from .transformer import bench_transformer

WORK = ROOT / "bench" / "work"
RESULTS = ROOT / "bench" / "results"
SHAPES = {"mlp": (64,), "cnn": (64, 64, 3)}
CONCURRENCY = (1, 8, 64)
# A client that batches for itself: the CNN's best batch size in raw ONNX Runtime, and MAX_BATCH_SIZE.
CLIENT_BATCHES = (8, 64)
INPUT_NAME = (
    "import json, sys, onnxruntime as o; print(json.dumps(o.InferenceSession(sys.argv[1]).get_inputs()[0].name))"
)


def batched(rows: int) -> str:
    return f"v2-binary x{rows}"


def grpc_batched(rows: int) -> str:
    return f"{GRPC_RAW} x{rows}"


def rows_per_request(protocol: str) -> int:
    return int(protocol.rsplit(" x", 1)[1]) if " x" in protocol else 1


def build_models() -> dict:
    made = WORK / "models.json"
    if not made.exists():
        output = subprocess.run([PYTHON, "-m", "bench.models", str(WORK)], cwd=ROOT, capture_output=True, text=True)
        if output.returncode:
            raise SystemExit(f"building the bench models failed:\n{output.stderr[-3000:]}")
        made.write_text(output.stdout)
    return json.loads(made.read_text())


def raw_limit(onnx_path: str, threads: int) -> dict[str, float]:
    command = [PYTHON, "-m", "bench.raw_ort", onnx_path, "--threads", str(threads)]
    return json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)


def probe(url: str, body: Body) -> bool:
    headers = {"Content-Type": body.content_type, "Authorization": f"Bearer {API_KEY}"}
    if body.header_length is not None:
        headers["Inference-Header-Content-Length"] = str(body.header_length)
    request = urllib.request.Request(url, data=body.path.read_bytes(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def servers_for(
    kind: str, models: dict, cpus: str | None, service_env: dict[str, str], baseline: Path | None
) -> list[tuple[Server, str]]:
    repository = WORK / f"serve_{kind}"
    link = repository / kind / "1" / "model.onnx"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(models[kind]["onnx"]).resolve())
    uvicorn = [PYTHON, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}"]
    minimal = [*uvicorn, "bench.baselines.minimal_fastapi:app"]
    bare = [*uvicorn, "--loop", "uvloop", "--http", "httptools", "--no-access-log", "bench.limit_app:app"]
    naive = [*uvicorn, "bench.baselines.naive_keras:app"]
    service_env = {"MODEL_REPOSITORY": str(repository), **service_env}
    # Each service its own gRPC port: two on one port (SO_REUSEPORT) would share the calls.
    return [
        *limit_servers(bare, models[kind]["onnx"], cpus),
        (
            Server("service", [PYTHON, "-m", "service"], {**service_env, "GRPC_PORT": str(free_port())}, cpus),
            "/predict",
        ),
        (
            Server(
                "service-1w",
                [PYTHON, "-m", "service"],
                {**service_env, "WORKERS": "1", "GRPC_PORT": str(free_port())},
                cpus,
            ),
            "/predict",
        ),
        # The cost of the per-label metrics: the same service with them off, on the MLP (where it shows most).
        *(
            [
                (
                    Server(
                        "service-labels-off",
                        [PYTHON, "-m", "service"],
                        {**service_env, "LABEL_METRICS": "false", "GRPC_PORT": str(free_port())},
                        cpus,
                        protocols=("json",),
                    ),
                    "/predict",
                )
            ]
            if kind == "mlp"
            else []
        ),
        # Another commit of this service (--baseline), on the REST rows.
        *(
            [
                (
                    Server(
                        "baseline",
                        [PYTHON, "-m", "service"],
                        {**service_env, "GRPC_PORT": str(free_port())},
                        cpus,
                        root=baseline,
                        protocols=REST_PROTOCOLS,
                    ),
                    "/predict",
                )
            ]
            if baseline
            else []
        ),
        (Server("minimal", minimal, {"MODEL_PATH": models[kind]["onnx"]}, cpus), "/predict"),
        (Server("naive", naive, {"KERAS_PATH": models[kind]["keras"]}, cpus), "/predict"),
    ]


def bench_model(kind: str, models: dict, args: argparse.Namespace, max_queue_rows: int) -> dict:
    seconds, server_cpus, wrk_cpus = args.seconds, args.server_cpus, args.wrk_cpus
    service_env = service_settings(args.service_env)
    rows = one_row(SHAPES[kind])
    input_name = json.loads(subprocess.check_output([PYTHON, "-c", INPUT_NAME, models[kind]["onnx"]], text=True))
    bodies = {
        "json": json_body(rows, WORK / f"{kind}.json"),
        "v2-binary": v2_binary_body(rows, input_name, WORK / f"{kind}.v2.bin"),
        # The same path with several rows per request, as a client that batches for itself sends.
        **{
            batched(n): v2_binary_body(np.repeat(rows, n, axis=0), input_name, WORK / f"{kind}.v2x{n}.bin")
            for n in CLIENT_BATCHES
        },
        # gRPC ModelInfer with raw tensor bytes (bench/grpc_load.py): 1 row, and the client batches on the CNN.
        GRPC_RAW: grpc_body(rows, kind, input_name, WORK / f"{kind}.grpc.bin"),
        **{
            grpc_batched(n): grpc_body(np.repeat(rows, n, axis=0), kind, input_name, WORK / f"{kind}.grpcx{n}.bin")
            for n in CLIENT_BATCHES
        },
    }
    baseline = args.baseline_folder
    chosen = [
        (srv, path)
        for srv, path in servers_for(kind, models, server_cpus, service_env, baseline)
        if srv.name in args.servers.split(",") or (srv.name == "baseline" and baseline)
    ]
    targets, servers = [], {}
    try:
        for server, path in chosen:  # one at a time, so each cold start has the machine to itself
            server.start()
            pid = server.process.pid
            servers[server.name] = {"cold_start_s": server.cold_start_s, "tensorflow_loaded": loads_tensorflow(pid)}
            targets.append((server, "json", server.url + path))
            v2_url = f"{server.url}/v2/models/{kind}/infer"
            if server.name in LIMITS:
                targets += [(server, p, v2_url) for p in ("v2-binary", GRPC_RAW)]
            elif server.name.startswith(("service", "baseline")) and probe(v2_url, bodies["v2-binary"]):
                targets.append((server, "v2-binary", v2_url))
                targets += [(server, batched(n), v2_url) for n in CLIENT_BATCHES]
                targets.append((server, GRPC_RAW, v2_url))
                if kind == "cnn":
                    targets += [(server, grpc_batched(n), v2_url) for n in CLIENT_BATCHES]
        targets = [(s, protocol, url) for s, protocol, url in targets if s.protocols is None or protocol in s.protocols]

        def load(server: Server, protocol: str, url: str, connections: int, window: float) -> dict:
            if is_grpc(protocol):
                port = int(server.env["GRPC_PORT"])
                pid = server.process.pid
                return run_h2load(port, server.url, bodies[protocol], connections, window, pid, wrk_cpus, API_KEY)
            return run_wrk(url, bodies[protocol], connections, window, server.process.pid, wrk_cpus, API_KEY)

        for server, protocol, url in targets:
            load(server, protocol, url, 8, 1)  # warm-up, not counted
        cells = []
        for connections in map(int, args.concurrency.split(",")):
            # Not run: more rows in flight than the service queues (MAX_QUEUE_ROWS) would measure its 503s.
            cell_targets = [t for t in targets if rows_per_request(t[1]) * connections <= max_queue_rows]
            # Round-robin: every target gets a slot in each round, so a burst of load from elsewhere on the machine
            # hits them all alike; the cell keeps each target's median round.
            rounds: dict[int, list[dict]] = {i: [] for i in range(len(cell_targets))}
            for _ in range(args.rounds):
                for i, (server, protocol, url) in enumerate(cell_targets):
                    # The naive server needs seconds per request at c=64: a short window would count none.
                    window = max(seconds, 6) if server.name == "naive" else seconds
                    rounds[i].append(load(server, protocol, url, connections, window))
            for i, (server, protocol, _) in enumerate(cell_targets):
                median = sorted(rounds[i], key=lambda r: r["rps"])[len(rounds[i]) // 2]
                cell = {"model": kind, "server": server.name, "protocol": protocol, "c": connections, **median}
                cell["rows_per_request"] = rows_per_request(protocol)
                cells.append(
                    {
                        **cell,
                        "rounds_rps": [round(r["rps"]) for r in rounds[i]],
                        "rounds_cpu_us": [round(r["cpu_us_per_request"], 1) for r in rounds[i]],
                    }
                )
                print(json.dumps(cells[-1]), flush=True)
        for server, _ in chosen:
            servers[server.name]["rss_mb"] = rss_mb(server.process.pid)
    finally:
        for server, _ in chosen:
            server.stop()
    return {"cells": cells, "servers": servers}


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?")
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="wrk duration of each round of each cell")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per cell (the median round is kept)")
    parser.add_argument("--server-cpus", default=None, help="taskset CPU list for servers (default: not pinned)")
    parser.add_argument("--wrk-cpus", default=None, help="taskset CPU list for wrk (default: not pinned)")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--servers", default=f"{','.join(LIMITS)},service,service-1w,service-labels-off,minimal,naive")
    parser.add_argument("--baseline", default="", help="a git commit of this service to measure beside it (REST rows)")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--service-env", action="append", default=[], help="KEY=VALUE for this service (repeat)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw ONNX Runtime measurement")
    parser.add_argument("--no-text", action="store_true", help="skip the text model's row (bench/text.py)")
    parser.add_argument(
        "--no-transformer", action="store_true", help="skip the transformer rows (bench/transformer.py)"
    )
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    args = quick(parser.parse_args())
    args.baseline_folder = None
    if args.baseline:
        args.baseline, args.baseline_folder = checkout(args.baseline)
    from service.settings import Settings

    settings = Settings(**{k.lower(): v for k, v in service_settings(args.service_env).items()})
    models = build_models()
    run = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "pinning": {"server": args.server_cpus, "wrk": args.wrk_cpus},
        "seconds_per_cell": args.seconds,
        "rounds": args.rounds,
        "baseline": args.baseline or None,
        "settings": {
            k: getattr(settings, k)
            for k in ("workers", "ort_intra_op_threads", "max_batch_size", "max_batch_delay_ms", "max_queue_rows")
        }
        | {"api_keys": len(settings.api_key_list())},
        "models": {},
    }
    for kind in args.models.split(","):
        limit = {} if args.no_raw else {str(t): raw_limit(models[kind]["onnx"], t) for t in (1, 2)}
        run["models"][kind] = {
            "onnx_from": models[kind]["onnx_from"],
            "raw_ort": limit,
            **bench_model(kind, models, args, settings.max_queue_rows),
        }
    if not args.no_text:
        run["text"] = bench_text(WORK, args.seconds, args.rounds, args.server_cpus, args.wrk_cpus, args.service_env)
    if not args.no_transformer:
        run["transformer"] = bench_transformer(
            WORK, args.seconds, args.rounds, args.server_cpus, args.wrk_cpus, args.service_env
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(run, indent=2, default=str))
    table = render(run)
    (RESULTS / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

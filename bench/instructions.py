"""Instructions per request, counted by valgrind's callgrind: the same on a busy machine as on an idle one.

`python -m bench.instructions [--server service|limit] [--service-env KEY=VALUE ...] [--protocols json,v2-binary,...]`

Starts one server process (1 worker) under `valgrind --tool=callgrind` with instrumentation off, sends a warm-up,
then for each protocol: turns counting on, zeroes the counters, sends exactly --requests requests with h2load
(HTTP/1.1 for REST, HTTP/2 for gRPC) at --concurrency connections, dumps the counters and reads their total. Every
thread of the server counts (ONNX Runtime's included); the client runs outside valgrind. Prints one JSON line per
protocol: {"server", "variant", "protocol", "requests", "instructions_per_request"}.

What a feature costs is the difference between two variants (e.g. `--service-env LABEL_METRICS=false`), each counted
this way: deterministic to a fraction of a percent, unlike wall-clock on a shared machine. The slowdown under
valgrind is ~50x: keep --requests in the low thousands.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from .ablation import measure_native_batch_costs
from .grpc_load import INFER_PATH, grpc_body, h2load_path
from .limit_servers import API_KEY, service_settings
from .load import json_body, one_row, v2_binary_body
from .processes import PYTHON, ROOT, Server, free_port
from .text import CONCURRENCY as TEXT_CONCURRENCY

MODELS = ROOT / "models"  # the two demos: digits (POST /predict, v2, gRPC) and docstrings (text)
DIGITS = MODELS / "digits"
PROTOCOLS = ("json", "v2-binary", "grpc-raw")
TEXT_PROTOCOLS = ("text-x1", "text-x32")
RUN_ABLATION = "import runpy, sys; path = sys.argv.pop(1); runpy.run_path(path, run_name='__main__')"


def bodies(work: Path) -> dict[str, tuple[Path, list[str], str]]:
    """protocol -> (body file, extra h2load headers, URL path); gRPC's path is on the gRPC port."""
    import onnxruntime as ort

    from .text import demo_texts

    name = ort.InferenceSession(str(DIGITS / "1" / "model.onnx")).get_inputs()[0].name
    rows = one_row((64,))
    made = {
        "json": (json_body(rows, work / "i.json").path, ["content-type: application/json"], "/predict"),
        "grpc-raw": (grpc_body(rows, "digits", name, work / "i.grpc"), ["content-type: application/grpc"], ""),
    }
    binary = v2_binary_body(rows, name, work / "i.v2.bin")
    made["v2-binary"] = (
        binary.path,
        ["content-type: application/octet-stream", f"inference-header-content-length: {binary.header_length}"],
        "/v2/models/digits/infer",
    )
    for count in (1, 32):
        path = work / f"text{count}.json"
        path.write_text(json.dumps({"instances": demo_texts(count)}))
        made[f"text-x{count}"] = (path, ["content-type: application/json"], "/models/docstrings/predict")
    for body in made.values():
        body[1].append(f"authorization: Bearer {API_KEY}")
    return made


def load(url: str, body: tuple[Path, list[str], str], requests: int, concurrency: int, http2: bool) -> int:
    """Sends the requests; returns how many were answered 200 (a connection dropped on a crowded machine is no
    reason to throw a long run away, but it must not count as a request)."""
    command = [h2load_path(), "-n", str(requests), "-c", str(concurrency), "-m", "1", "-t", "1", "-d", str(body[0])]
    command += [part for header in body[1] for part in ("-H", header)]
    if http2:
        command += ["-H", "te: trailers"]
    else:
        command.append("--h1")
    output = subprocess.run([*command, url], capture_output=True, text=True).stdout
    done = next((line for line in output.splitlines() if line.startswith("status codes:")), "")
    answered = int(done.split()[2]) if done else 0
    if answered < requests * 0.85:  # under valgrind a slow answer can outlast uvicorn's 5 s keep-alive
        raise SystemExit(f"too few requests answered 200: {done}\n{output[-1500:]}")
    return answered


def concurrency(args: argparse.Namespace, protocol: str) -> int:
    """Text requests at the text bench's concurrency: 64 requests of 32 texts would overflow MAX_QUEUE_ROWS."""
    return TEXT_CONCURRENCY if protocol in TEXT_PROTOCOLS else args.concurrency


def target(server: Server, grpc_port: int, made: dict, protocol: str) -> str:
    return f"http://127.0.0.1:{grpc_port}{INFER_PATH}" if protocol == "grpc-raw" else server.url + made[protocol][2]


def callgrind(pid: int, *args: str) -> None:
    # valgrind names its vgdb pipes after $HOST, which Server sets to the address it binds (127.0.0.1).
    env = {**os.environ, "HOST": "127.0.0.1"}
    done = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True, env=env)
    if "OK" not in done.stdout:
        raise SystemExit(f"callgrind_control {args} {pid}: {done.stdout} {done.stderr}")


def batch_sizes(url: str) -> dict[str, float]:
    """ONNX Runtime calls and rows so far, every model (the server's metrics; read while not counting)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=600) as response:
        text = response.read().decode()
    totals = {"batches": 0.0, "rows": 0.0}
    for line in text.splitlines():
        for key, name in (("batches", "sigmoid_serve_batch_rows_count"), ("rows", "sigmoid_serve_batch_rows_sum")):
            if line.startswith(name + "{"):
                totals[key] += float(line.rsplit(" ", 1)[1])
    return totals


def total_instructions(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def measure(args: argparse.Namespace) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="callgrind-", dir=ROOT / "bench" / "work"))
    made = bodies(work)
    grpc_port = free_port()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/out.%p"]
    if args.server == "limit":
        command = [*valgrind, PYTHON, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--loop", "uvloop"]
        command += ["--http", "httptools", "--no-access-log", "bench.limit_app:app"]
        env = {"LIMIT_MODEL": str(DIGITS / "1" / "model.onnx"), "LIMIT_GRPC_PORT": str(grpc_port)}
        env["LIMIT_GRPC"] = args.limit_grpc
    else:
        # Under valgrind every ONNX Runtime call is ~50x slower: the models' batch costs (what runs inline, how
        # batches are chunked) are measured natively, as the service measures them when it serves for real.
        env = service_settings(args.service_env) | {"BENCH_BATCH_COSTS": measure_native_batch_costs(str(MODELS))}
        env |= {"WORKERS": "1", "GRPC_PORT": str(grpc_port)}
        env = {"MODEL_REPOSITORY": str(MODELS), "DEFAULT_MODEL": "digits", **env}
        # The service, with quiet timers and any ablation: this checkout's bench/ablation.py, whichever checkout
        # serves (--root: a baseline may predate it), run as a file so that `bench` stays the root's package.
        command = [*valgrind, PYTHON, "-c", RUN_ABLATION, str(ROOT / "bench" / "ablation.py")]
        env |= {"BENCH_ABLATE": args.ablate, "BENCH_QUIET_TIMERS": "1"}
    results = []
    root = Path(args.root).resolve() if args.root else ROOT
    server = Server(f"callgrind-{args.server}", command, env, root=root)
    server.start(timeout=900)  # ONNX Runtime and numpy load slowly under valgrind
    try:
        pid = server.process.pid
        for protocol in args.protocols:  # warm-up, not counted
            url = target(server, grpc_port, made, protocol)
            load(url, made[protocol], args.warmup, concurrency(args, protocol), protocol == "grpc-raw")
        previous = batch_sizes(server.url) if args.server == "service" else {}
        for index, protocol in enumerate(args.protocols, 1):
            url = target(server, grpc_port, made, protocol)
            callgrind(pid, "--instr=on")
            callgrind(pid, "--zero")
            answered = load(url, made[protocol], args.requests, concurrency(args, protocol), protocol == "grpc-raw")
            time.sleep(0.5)  # the last answers' bookkeeping (metrics after the send) finishes
            callgrind(pid, "--dump")
            callgrind(pid, "--instr=off")
            dump = work / f"out.{pid}.{index}"
            totals = batch_sizes(server.url) if args.server == "service" else {}
            batches = {key: value - previous.get(key, 0.0) for key, value in totals.items()}
            previous = totals
            count = total_instructions(dump)
            results.append(
                {
                    "server": args.server,
                    "variant": args.variant
                    or ",".join([*args.service_env, *args.ablate.split(",")]).strip(",")
                    or "defaults",
                    "protocol": protocol,
                    "requests": answered,
                    "root": str(root),
                    "instructions_per_request": round(count / answered),
                    "dump": str(dump.relative_to(ROOT)),
                    **batches,
                }
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("service", "limit"), default="service")
    parser.add_argument("--limit-grpc", choices=("aio", "sync", "sync-loop", "grpclib"), default="aio")
    parser.add_argument("--service-env", action="append", default=[], help="KEY=VALUE for the service (repeat)")
    parser.add_argument("--root", default="", help="run the server from this checkout (e.g. a baseline worktree)")
    parser.add_argument("--ablate", default="", help="layers taken out (bench/ablation.py), comma-separated")
    parser.add_argument("--variant", default="", help="a name for this variant in the output")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"of {PROTOCOLS + TEXT_PROTOCOLS}")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    args.protocols = args.protocols.split(",")
    measure(args)


if __name__ == "__main__":
    main()

"""Where a request's CPU goes, by layer: py-spy (native frames) on one service worker under wrk load.

`python -m bench.pyspy_profile [--protocol json|v2-binary|text-x1|text-x32] [--seconds 20] [--service-env K=V ...]`

Starts the service with WORKERS=1 and one API key, loads it with wrk at --concurrency connections, and samples it
with `py-spy record --native --format raw` (collapsed stacks: one line per distinct stack, with its sample count;
idle samples left out). Each sample is charged to one layer: the innermost frame of the stack that a rule of
rule claims (see SPECIFIC and GENERIC below); samples of waiting threads are left out.
Writes the stacks to bench/work/profile-PROTOCOL.txt (speedscope and flamegraph tools read them) and prints
{layer: share of the samples}. Shares come from sampling: measure a cut's worth with bench/instructions.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .instructions import MODELS, bodies
from .limit_servers import API_KEY, service_settings
from .load import Body, run_wrk
from .processes import PYTHON, ROOT, Server

# (layer, substrings of a frame that put it there). A sample goes to the innermost frame that a SPECIFIC rule claims
# (this service's modules and the libraries that are a step of their own), else to the innermost frame a GENERIC
# rule claims: numpy called from validation is validation; the event loop between two requests is the event loop.
SPECIFIC = (
    ("GC", ("gc_collect", "gcmodule")),
    ("ONNX Runtime run", ("onnxruntime",)),
    ("JSON parse (orjson)", ("json_body.py", "orjson", "v2_codec.py", "v2/codec.py")),
    ("text step (tf-idf)", ("text_step.py", "text_inputs.py", "text_inference.py", "text_spec.py", "contract/text/")),
    ("validation (core/inputs.py)", ("core/inputs.py",)),
    ("per-label metrics", ("label_metrics.py",)),
    ("request + batch metrics (prometheus)", ("observability.py", "telemetry/metrics.py", "prometheus_client")),
    ("statistics", ("statistics.py",)),
    ("batcher", ("batcher.py",)),
    ("data plane + deadline", ("dataplane.py", "deadline.py", "deadline_watch.py", "core/model.py", "registry.py")),
    (
        "response document and body reading",
        ("encode_result", "v2_documents.py", "v2/documents.py", "protocols/http.py", "http_adapter.py"),
    ),
    ("protocol handler (native/v2)", ("protocols/native.py", "protocols/v2.py", "v2/rest.py")),
    ("fast lane (route match)", ("fast_lane.py",)),
    ("request deadline middleware", ("request_deadline.py",)),
    ("API key middleware", ("auth.py", "api_keys.py")),
    ("front door (request id, log, metrics, keys, deadline)", ("front_door.py",)),
    ("request context middleware (id, log, metrics)", ("middleware.py", "request_record.py", "access_log.py")),
    ("HTTP protocol (uvicorn, httptools)", ("uvicorn_protocol.py", "http_protocol.py", "uvicorn/", "httptools")),
)
GENERIC = (
    ("Starlette/FastAPI", ("starlette/", "fastapi/")),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop", "loop.cpython")),
    ("numpy", ("numpy",)),
)
IDLE = ("PyThread_acquire_lock_timed", "SimpleQueue_get", "epoll_wait", "select (", "time_sleep")
OTHER = "other (interpreter, kernel)"


def layer_of(stack: str) -> str | None:
    """The layer of one collapsed stack ("root;...;leaf"); None for a thread waiting (not CPU)."""
    frames = stack.split(";")
    if any(mark in frame for frame in frames[-6:] for mark in IDLE):
        return None
    for rules in (SPECIFIC, GENERIC):
        for frame in reversed(frames):
            for layer, marks in rules:
                if any(mark in frame for mark in marks):
                    return layer
    return OTHER


def shares(collapsed: str) -> dict[str, float]:
    """{layer: share of the samples} of py-spy's raw output, largest first."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        layer = layer_of(stack) if stack and count.isdigit() else None
        if layer is not None:
            counts[layer] += int(count)
    total = sum(counts.values()) or 1
    return {layer: count / total for layer, count in counts.most_common()}


def profile(
    protocol: str, seconds: float, concurrency: int, service_env: list[str], root: Path = ROOT
) -> tuple[dict, dict]:
    work = ROOT / "bench" / "work"
    made = bodies(work)
    path, headers, url_path = made[protocol]
    header_length = next((int(h.split(": ")[1]) for h in headers if h.startswith("inference-header")), None)
    body = Body(path, headers[0].split(": ")[1], header_length)
    env = {"MODEL_REPOSITORY": str(MODELS), "DEFAULT_MODEL": "digits"}
    env |= service_settings(service_env) | {"WORKERS": "1", "GRPC_PORT": "0"}
    out = work / f"profile-{protocol}-{root.name}.txt"
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    with Server("pyspy-service", [PYTHON, "-m", "service"], env, root=root) as server:
        pid = server.process.pid
        run_wrk(server.url + url_path, body, concurrency, 2, pid, None, API_KEY)  # warm-up
        command = [spy, "record", "--native", "--format", "raw", "--rate", "200", "--duration", str(int(seconds))]
        sampler = subprocess.Popen([*command, "--pid", str(pid), "-o", str(out)], stdout=subprocess.DEVNULL)
        cell = run_wrk(server.url + url_path, body, concurrency, seconds, pid, None, API_KEY)
        sampler.wait(timeout=seconds + 60)
    return shares(out.read_text()), cell


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pyspy_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="json", choices=("json", "v2-binary", "text-x1", "text-x32"))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--service-env", action="append", default=[])
    parser.add_argument("--root", type=Path, default=ROOT, help="run the service from this checkout")
    args = parser.parse_args()
    layers, cell = profile(args.protocol, args.seconds, args.concurrency, args.service_env, args.root.resolve())
    print(json.dumps({"protocol": args.protocol, "rps": round(cell["rps"]), "cpu_us": cell["cpu_us_per_request"]}))
    for layer, share in layers.items():
        print(f"{share:6.1%}  {share * cell['cpu_us_per_request']:6.1f} µs  {layer}")


if __name__ == "__main__":
    main()

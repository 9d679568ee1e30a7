"""Instructions per request of the app alone (no sockets, no uvicorn), exactly reproducible: the layer-by-layer tool.

`python -m bench.app_instructions [--ablate a,b] [--protocol json|v2-binary] [--requests N] [--concurrency C]`

Runs itself under `valgrind --tool=callgrind` (counting off), builds the app as `python -m service` would (one API
key, every feature on, demo models), drives it in-process with bench/asgi_cost.py's driver (C requests in flight,
no I/O: the interleaving, and so every count, is the same on every run), and counts only the measured requests.
With `--ablate` (bench/ablation.py) a layer is taken out first: the difference is that layer's cost. uvicorn's
protocol and the kernel are not in these counts (bench/instructions.py counts those too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .ablation import ABLATIONS, measure_native_batch_costs, native_batch_costs, quiet_timers
from .limit_servers import API_KEY
from .processes import ROOT

MODELS = ROOT / "models"
CANCELS_ON_DISCONNECT = "sigmoid_serve.cancels_on_disconnect"  # the scope key of service/http/request_deadline.py


def callgrind(*args: str) -> None:
    done = subprocess.run(["callgrind_control", *args, str(os.getpid())], capture_output=True, text=True)
    if "OK" not in done.stdout:
        raise SystemExit(f"callgrind_control {args}: {done.stdout} {done.stderr}")


def request_body(protocol: str) -> tuple[bytes, str, int | None]:
    """(body, path, v2 header length) for one row of the digits demo."""
    import onnxruntime as ort

    from .load import json_body, one_row, v2_binary_body

    work = Path(tempfile.mkdtemp(prefix="app-instructions-"))
    rows = one_row((64,))
    if protocol == "json":
        return json_body(rows, work / "b.json").path.read_bytes(), "/predict", None
    name = ort.InferenceSession(str(MODELS / "digits" / "1" / "model.onnx")).get_inputs()[0].name
    body = v2_binary_body(rows, name, work / "b.bin")
    return body.path.read_bytes(), "/v2/models/digits/infer", body.header_length


async def measure(args: argparse.Namespace, out: Path) -> float:
    from service.app import create_app
    from service.settings import Settings

    from .asgi_cost import drive

    body, path, header_length = request_body(args.protocol)
    settings = Settings(model_repository=MODELS, default_model="digits", api_keys=API_KEY, **args.settings)
    app = create_app(settings)
    registry = app.state.adapters.plane.registry
    await registry.load_all()
    authorization = [(b"authorization", f"Bearer {API_KEY}".encode())]
    # As the service's own HTTP protocol marks every request: it cancels a request whose client left, so the app
    # needs no task of its own per request to listen for that (service/server/http_protocol.py).
    marked = {CANCELS_ON_DISCONNECT: True}
    try:
        await drive(app, body, args.warmup, args.concurrency, path, header_length, authorization, scope_extra=marked)
        callgrind("--instr=on")
        callgrind("--zero")
        await drive(
            app, body, args.requests, args.concurrency, path, header_length, authorization, False, scope_extra=marked
        )
        callgrind("--dump")
        callgrind("--instr=off")
    finally:
        await registry.close()
    dump = next(out.parent.glob(f"{out.name}.*"))
    totals = next(line for line in dump.read_text().splitlines() if line.startswith(("summary:", "totals:")))
    return int(totals.split()[1]) / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.app_instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--ablate", default="")
    parser.add_argument("--protocol", default="json", choices=("json", "v2-binary"))
    parser.add_argument("--requests", type=int, default=2048)
    parser.add_argument("--warmup", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--setting", action="append", default=[], help="Settings field=value (repeat)")
    args = parser.parse_args()
    if os.environ.get("BENCH_UNDER_CALLGRIND") != "1":
        out = Path(tempfile.mkdtemp(prefix="app-callgrind-")) / "out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        env = {**os.environ, "BENCH_UNDER_CALLGRIND": "1", "BENCH_CALLGRIND_OUT": str(out)}
        env["BENCH_BATCH_COSTS"] = measure_native_batch_costs(str(MODELS))
        raise SystemExit(subprocess.run([*command, sys.executable, "-m", "bench.app_instructions", *sys.argv[1:]],
                                        env=env, cwd=os.getcwd(), stderr=subprocess.DEVNULL).returncode)  # fmt: skip
    args.settings = {"model_poll_seconds": 0} | dict(item.split("=", 1) for item in args.setting)
    quiet_timers()
    native_batch_costs()
    for name in filter(None, args.ablate.split(",")):
        ABLATIONS[name]()
    per_request = asyncio.run(measure(args, Path(os.environ["BENCH_CALLGRIND_OUT"])))
    result = {"ablate": args.ablate or "none", "settings": args.settings, "protocol": args.protocol}
    print(json.dumps(result | {"concurrency": args.concurrency, "instructions_per_request": round(per_request)}))


if __name__ == "__main__":
    main()

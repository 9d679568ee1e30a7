"""The service with layers taken out, to count what each costs: `BENCH_ABLATE=a,b python -m bench.ablation`.

A measuring instrument, not a configuration: each ablation replaces one layer of the request path with the least
that still answers 200 (a no-op for observers), then `python -m service` runs as usual. bench/instructions.py
counts instructions per request with and without each (`--ablate NAME`); the difference is the layer's cost.
What the answers hold may differ from the real service's (no validation, no statistics): never serve with it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

ABLATIONS: dict[str, Callable[[], None]] = {}


def module(*names: str) -> ModuleType:
    """The first of these modules that the served checkout holds: the service's layout before and after issue 21's
    restructure (a baseline may have either; bench/instructions.py runs this file from the bench's own checkout).
    Looked for on disk: the editable install would find the bench's own copy of a module the checkout lacks."""
    import service

    package = Path(service.__path__[0])
    for name in names:
        parts = name.split(".")[1:]
        if package.joinpath(*parts).with_suffix(".py").is_file() or package.joinpath(*parts, "__init__.py").is_file():
            return importlib.import_module(name)
    raise SystemExit(f"none of {names} in {package}")


def ablation(function: Callable[[], None]) -> Callable[[], None]:
    ABLATIONS[function.__name__] = function
    return function


@ablation
def request_metrics() -> None:
    """Request counter and latency histogram (prometheus_client) per request."""
    module("service.http.front_door").observe_request = lambda *args: None


@ablation
def batch_metrics() -> None:
    """Batch rows, run time, queue waits and queue depth histograms per batch."""
    module("service.telemetry.metrics").BatchMetrics.batch_done = lambda self, report: None


@ablation
def statistics() -> None:
    """Triton-style statistics per request and per batch."""
    from service.core import statistics as stats

    stats.VersionStatistics.batch_done = lambda self, report: None
    stats.VersionStatistics.request_done = lambda self, seconds, rows, failed: None


@ablation
def request_id() -> None:
    """A random request id per request (os.urandom)."""
    module("service.http.front_door").request_id_from = lambda headers: "0"


@ablation
def api_keys() -> None:
    """The API key check with one key (the bench still sends the header)."""
    module("service.http.front_door").bearer_refusal = lambda keys, authorization: None


@ablation
def validation() -> None:
    """core/inputs.py: rows to checked arrays (replaced by one np.asarray)."""
    from service.core import dataplane

    dataplane.columns_from_instances = lambda name, inputs, instances: {inputs[0].name: instances}
    dataplane.to_arrays = lambda name, inputs, columns, *args: {
        key: np.asarray(value, dtype=np.float32) for key, value in columns.items()
    }


@ablation
def batcher() -> None:
    """The batch queue: each request runs ONNX Runtime by itself, inline, no queue, no observers."""
    from service.core import batcher as module

    async def submit(self, arrays, rows, key=None):  # noqa: ANN001, ANN202
        return self._run(arrays)

    module.Batcher.submit = submit


@ablation
def response_document() -> None:
    """native.encode_result: the per-row document (replaced by the probabilities alone)."""
    from service.protocols import native

    native.encode_result = lambda result: {"probabilities": result.probabilities}


def quiet_timers() -> None:
    """Periodic work whose cost per request natively is nil (a label-metrics flush every 0.5 s, the connection
    sweep every 0.25 s, the gRPC health refresh every second, the repository poll every 5 s: at thousands of
    requests per second, a few instructions each) but which valgrind's ~50x slower clock would charge to every
    request, and unevenly, with the machine's load: moved out of the counted window."""
    label_metrics = module("service.telemetry.label_metrics", "service.label_metrics")
    grpc_server = module("service.server.grpc_server", "service.grpc_server")
    http_protocol = module("service.server.http_protocol", "service.uvicorn_protocol")
    label_metrics.FLUSH_SECONDS = grpc_server.HEALTH_REFRESH_SECONDS = http_protocol.SWEEP_SECONDS = 3600.0
    os.environ["MODEL_POLL_SECONDS"] = "0"


def native_batch_costs() -> None:
    """Each model's batch cost as measured natively (BENCH_BATCH_COSTS: {model: [fixed_s, per_row_s, chunk_rows]}),
    not by the warm-up under valgrind: its ~50x slower and noisy clock would change what runs inline and how large
    batches are cut into chunks (one run chunked the MLP's batches row by row: +11% instructions)."""
    import json

    from service.core.batch_cost import BatchCost
    from service.core.model import LoadedModel

    costs = json.loads(os.environ.get("BENCH_BATCH_COSTS", "{}"))
    warm_up = LoadedModel.warm_up

    def warm_up_with_native_cost(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        warm_up(self, *args, **kwargs)
        if self.name in costs:
            self.cost = BatchCost(*costs[self.name])

    LoadedModel.warm_up = warm_up_with_native_cost


def measure_native_batch_costs(repository: str) -> str:
    """BENCH_BATCH_COSTS for the models of a repository, measured in a plain (not valgrind) process."""
    import subprocess
    import sys

    script = (
        "import json, sys\nfrom pathlib import Path\nfrom service.core.model import LoadedModel\ncosts = {}\n"
        "for path in sorted(Path(sys.argv[1]).glob('*/1/model.onnx')):\n"
        "    model = LoadedModel.load(path.parent.parent.name, 1, path)\n    model.warm_up(64)\n"
        "    costs[model.name] = [model.cost.fixed_s, model.cost.per_row_s, model.cost.chunk_rows]\n"
        "print(json.dumps(costs))\n"
    )
    return subprocess.run([sys.executable, "-c", script, repository], capture_output=True, text=True, check=True).stdout


def main() -> None:
    if os.environ.get("BENCH_QUIET_TIMERS") == "1":
        quiet_timers()
        native_batch_costs()
    for name in filter(None, os.environ.get("BENCH_ABLATE", "").split(",")):
        if name not in ABLATIONS:
            raise SystemExit(f"unknown ablation {name!r}; known: {sorted(ABLATIONS)}")
        ABLATIONS[name]()
    from service.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()

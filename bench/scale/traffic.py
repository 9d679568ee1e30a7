"""The traffic through the balancer: steady load with wrk (REST, HTTP/1.1) and h2load (gRPC over HTTP/2) at the same
time, each paced below the machine's capacity, and a probe that reads `model_version` from answers on both
protocols (with the time of each) to see versions change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from ..grpc_load import INFER_PATH, grpc_body, h2load_path
from ..load import json_body, wrk_path

PACED_LUA = Path(__file__).with_name("paced.lua")  # paced POSTs, counts what was not a 200
MODEL, INPUT = "digits", "pixels"
SUMMARY = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored")


@dataclass
class LoadResult:
    sent: int
    failed: int
    p99_ms: float
    p90_ms: float
    detail: str = ""


class Bodies:
    """One demo row as a native JSON body (REST) and as a framed ModelInferRequest (gRPC)."""

    def __init__(self, folder: Path, row: np.ndarray) -> None:
        self.row = row
        self.rest = json_body(row, folder / "row.json")
        self.grpc = grpc_body(row, MODEL, INPUT, folder / "row.grpc")


class RestLoad:
    """wrk on the native predict endpoint: `connections`, each pausing `pause_ms` between requests."""

    def __init__(self, address: str, bodies: Bodies, seconds: float, connections: int, pause_ms: float) -> None:
        env = {
            **os.environ,
            "BENCH_BODY": str(bodies.rest.path),
            "BENCH_CONTENT_TYPE": bodies.rest.content_type,
            "PAUSE_MS": f"{pause_ms:.3f}",
        }
        command = [wrk_path(), "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "5s"]
        command += ["-s", str(PACED_LUA), f"http://{address}/models/{MODEL}/predict"]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish(self) -> LoadResult:
        output = self.process.communicate(timeout=120)[0]
        line = next((x for x in output.splitlines() if x.startswith("SCALE_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result:\n{output[-2000:]}")
        stats = json.loads(line.removeprefix("SCALE_JSON "))
        errors = {k: stats[k] for k in ("connect", "read", "write", "timeout") if stats[k]}
        statuses = stats["statuses"]
        failed = sum(statuses.values()) + sum(errors.values())
        detail = ", ".join([f"{n} x {s}" for s, n in statuses.items()] + [f"{n} {k} errors" for k, n in errors.items()])
        return LoadResult(stats["requests"], failed, stats["p99_us"] / 1000, stats["p90_us"] / 1000, detail)


class GrpcLoad:
    """h2load sending ModelInfer calls: `clients` HTTP/2 connections, `rps` calls a second each. h2load reads no
    trailers: a gRPC error inside an HTTP 200 is counted from the replicas' own metrics (see cases.py)."""

    def __init__(self, address: str, bodies: Bodies, seconds: float, clients: int, rps: int) -> None:
        self.log = Path(tempfile.mkstemp(suffix=".h2load.log")[1])
        command = [h2load_path(), "-c", str(clients), "-m", "1", "-t", "1", "-D", str(max(1, round(seconds)))]
        command += ["--rps", str(rps), "-d", str(bodies.grpc), "-H", "content-type: application/grpc"]
        command += ["-H", "te: trailers", "--log-file", str(self.log), f"http://{address}{INFER_PATH}"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish(self) -> LoadResult:
        output = self.process.communicate(timeout=120)[0]
        summary = SUMMARY.search(output)
        if summary is None:
            raise RuntimeError(f"h2load gave no result:\n{output[-2000:]}")
        _, started, done, _, failed, errored = map(int, summary.groups())
        rows = [line.split("\t") for line in self.log.read_text().splitlines() if line.strip()]
        self.log.unlink(missing_ok=True)
        latencies = [int(r[2]) / 1000 for r in rows if r[1] == "200"]
        statuses: dict[str, int] = {}
        for r in rows:
            if r[1] != "200":
                statuses[r[1]] = statuses.get(r[1], 0) + 1
        unfinished = started - done  # still in flight when the duration ended: not failures, not counted
        failed = max(failed, sum(statuses.values()))
        notes = [f"{n} x {'stream error' if s == '-1' else s}" for s, n in statuses.items()]
        notes += [f"{errored} errored" if errored else "", f"{unfinished} in flight at the end" if unfinished else ""]
        p90, p99 = (float(np.percentile(latencies, q)) for q in (90, 99)) if latencies else (0.0, 0.0)
        return LoadResult(done, failed, p99, p90, ", ".join(filter(None, notes)))


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer arrived
    seconds: float  # how long the request took
    protocol: str
    version: int | None
    error: str = ""


@dataclass
class VersionProbe:
    """Back-to-back predictions through the balancer on REST (v2 JSON) and gRPC, each answer's version and time."""

    http: str
    grpc: str
    row: np.ndarray
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> VersionProbe:
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._rest, self._grpc)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        return self.answers

    def _rest(self) -> None:
        tensor = {"name": INPUT, "shape": list(self.row.shape), "datatype": "FP32", "data": self.row.ravel().tolist()}
        with httpx.Client(base_url=f"http://{self.http}", timeout=5) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": [tensor]})
                    if response.status_code == 200:
                        self._record(sent, "rest", int(response.json()["model_version"]))
                    else:
                        self._record(sent, "rest", None, f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as failure:
                    self._record(sent, "rest", None, repr(failure))
                time.sleep(0.002)

    def _grpc(self) -> None:
        import tritonclient.grpc as triton  # the client's own copy of the protocol

        client = triton.InferenceServerClient(self.grpc)
        tensor = triton.InferInput(INPUT, list(self.row.shape), "FP32")
        tensor.set_data_from_numpy(self.row)
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                result = client.infer(MODEL, [tensor], client_timeout=5)
                self._record(sent, "grpc", int(result.get_response().model_version))
            except Exception as failure:  # noqa: BLE001 - every failure is an answer to count, whatever its type
                self._record(sent, "grpc", None, str(failure)[:200])
            time.sleep(0.002)
        client.close()

    def _record(self, sent: float, protocol: str, version: int | None, error: str = "") -> None:
        now = time.monotonic()
        self.answers.append(Answer(now, now - sent, protocol, version, error))

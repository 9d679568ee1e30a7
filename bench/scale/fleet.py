"""The fleet under test (network, replicas, balancer, Prometheus, request bodies), and one case's steady load: wrk
and h2load at once through the balancer for a fixed time while the case acts, then each protocol's requests sent,
failed, retried (haproxy's counters) and p99."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..processes import ROOT
from .balancer import Balancer
from .monitor import Monitor
from .network import Network
from .replicas import Replica
from .traffic import Bodies, GrpcLoad, LoadResult, RestLoad

# Paced below what 3 one-worker replicas and the load generators manage on 2 cores together, so that p99 measures
# the balancer's and the replicas' behaviour, not a saturated machine.
REST_CONNECTIONS, REST_PAUSE_MS = 8, 10.0
GRPC_CLIENTS, GRPC_RPS_PER_CLIENT = 4, 40
LEAD_SECONDS = 2.0  # load before a case acts, so that the action happens under steady load


@dataclass
class Row:
    case: str
    protocol: str
    sent: int
    failed: int
    retried: int
    p99_ms: float
    p90_ms: float = 0.0
    detail: str = ""


@dataclass
class CaseResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    gated: bool = True  # False: reported, never fails the run

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class Fleet:
    network: Network
    replicas: list[Replica]
    balancer: Balancer
    monitor: Monitor
    bodies: Bodies
    repository: Path
    startup_seconds: float  # the slowest replica start measured at set-up (the rolling restart's pace)


def demo_row() -> np.ndarray:
    examples = json.loads((ROOT / "models" / "digits" / "examples.json").read_text())
    return np.array(examples["instances"][:1], np.float32)


def grpc_errors(monitor: Monitor, seconds: float) -> int:
    """gRPC calls the replicas answered with a status other than OK in the last `seconds` (h2load cannot see them:
    the status is in the trailers). Counter resets at restarts are Prometheus' to handle."""
    time.sleep(2.5)  # a scrape and an evaluation after the last call
    window = math.ceil(seconds + 2.5)
    value = monitor.value(f'sum(increase(sigmoid_serve_requests_total{{protocol="grpc", status!="OK"}}[{window}s]))')
    return round(value or 0.0)


def under_load(fleet: Fleet, name: str, seconds: float, act: Callable[[], None]) -> tuple[list[Row], float, float]:
    """Steady load on both protocols for `seconds`; `act` runs LEAD_SECONDS in (in this thread). Returns the rows,
    and the epoch times at which the load started and ended."""
    before = fleet.balancer.counters()
    started = time.time()
    rest = RestLoad(fleet.balancer.http, fleet.bodies, seconds, REST_CONNECTIONS, REST_PAUSE_MS)
    grpc = GrpcLoad(fleet.balancer.grpc, fleet.bodies, seconds, GRPC_CLIENTS, GRPC_RPS_PER_CLIENT)
    time.sleep(LEAD_SECONDS)
    acted = time.time()
    act()
    if time.time() - started > seconds:
        print(f"  warning: {name}: the action took {time.time() - acted:.1f}s, past the end of the load")
    results: dict[str, LoadResult] = {"rest": rest.finish(), "grpc": grpc.finish()}
    ended = time.time()
    after = fleet.balancer.counters()
    status_errors = grpc_errors(fleet.monitor, ended - started)
    if status_errors:
        results["grpc"].failed += status_errors
        results["grpc"].detail += f"{', ' if results['grpc'].detail else ''}{status_errors} non-OK gRPC statuses"
    rows = []
    for protocol, result in results.items():
        # haproxy counts a retry on the same replica in `wretr`, one on another replica in `wredis` (redispatch 1:
        # every retry goes elsewhere): a retried attempt is one or the other.
        retried = after[protocol]["retries"] - before[protocol]["retries"]
        redispatched = after[protocol]["redispatches"] - before[protocol]["redispatches"]
        notes = [result.detail, f"{redispatched} of the retries to another replica" if redispatched else ""]
        row = Row(name, protocol, result.sent, result.failed, retried + redispatched, result.p99_ms, result.p90_ms)
        row.detail = "; ".join(filter(None, notes))
        rows.append(row)
    return rows, started, ended


def requests_per_server(before: dict, after: dict, protocol: str) -> dict[str, int]:
    return {k: after[protocol][k] - before[protocol][k] for k in after[protocol] if k.startswith("replica")}


class Timer:
    """Elapsed seconds of a phase, for the report (the whole run must stay within CI's few minutes)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.phases: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, phase: str, since: float) -> None:
        with self._lock:
            self.phases[phase] = time.monotonic() - since

"""`python -m bench.scale` (`make scale-test`): see bench/scale/__init__.py. Exit status 1 when the rolling restart,
the rollout or the corrupt version misses its criteria; the kill and the starved replica are reported."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from ..processes import ROOT
from .balancer import Balancer
from .cases import corrupt_version, rolling_restart, rollout
from .faults import kill_replica, starved_replica
from .fleet import GRPC_CLIENTS, GRPC_RPS_PER_CLIENT, REST_CONNECTIONS, REST_PAUSE_MS, CaseResult, Fleet, demo_row
from .monitor import Monitor
from .network import make_network
from .replicas import MODEL_POLL_SECONDS, SHUTDOWN_DELAY_SECONDS, Replica, start_all
from .report import render
from .traffic import MODEL, Bodies

WORK = ROOT / "bench" / "work" / "scale"
RESULTS = ROOT / "bench" / "results"
REPLICAS = 3


def set_up(loopback: bool) -> Fleet:
    shutil.rmtree(WORK, ignore_errors=True)
    repository, logs = WORK / "repository", WORK / "logs"
    (repository / MODEL / "1").mkdir(parents=True)
    logs.mkdir()
    shutil.copy(ROOT / "models" / MODEL / "1" / "model.onnx", repository / MODEL / "1" / "model.onnx")
    network = make_network(REPLICAS, loopback)
    print(f"replicas: {network.note}", flush=True)
    replicas = [Replica(placement, repository, logs) for placement in network.placements]
    started = time.monotonic()
    try:
        start_all(replicas)
        startup = time.monotonic() - started
        balancer = Balancer(network.placements, logs)
        balancer.wait_all_up()
        monitor = Monitor([p.http for p in network.placements], balancer.stats_address)
        monitor.wait_scraping(REPLICAS)
    except BaseException:
        for replica in replicas:
            replica.stop()
        network.close()
        raise
    return Fleet(network, replicas, balancer, monitor, Bodies(WORK, demo_row()), repository, startup)


def tear_down(fleet: Fleet) -> None:
    fleet.balancer.stop()
    for replica in fleet.replicas:
        replica.stop()
    fleet.monitor.stop()
    fleet.network.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--loopback", action="store_true", help="replicas on 127.0.0.1 ports, even with namespaces")
    options = parser.parse_args()
    began = time.monotonic()
    load_at_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    fleet = set_up(options.loopback)
    print(f"set up in {time.monotonic() - began:.0f} s (replicas ready in {fleet.startup_seconds:.1f} s)", flush=True)
    cases: list[CaseResult] = []

    def record(case: CaseResult, phase: float) -> None:
        cases.append(case)
        print(f"{case.name}: {time.monotonic() - phase:.0f} s, {'ok' if case.passed else case.problems}", flush=True)

    try:
        phase = time.monotonic()
        record(rolling_restart(fleet), phase)
        phase = time.monotonic()
        case, served = rollout(fleet)
        record(case, phase)
        phase = time.monotonic()
        record(corrupt_version(fleet, served), phase)
        phase = time.monotonic()
        record(kill_replica(fleet), phase)
        phase = time.monotonic()
        record(starved_replica(fleet), phase)
    finally:
        tear_down(fleet)
    elapsed = time.monotonic() - began
    settings = (
        f"1 worker per replica, SHUTDOWN_DELAY_SECONDS={SHUTDOWN_DELAY_SECONDS:.0f}, "
        f"MODEL_POLL_SECONDS={MODEL_POLL_SECONDS:.0f}; deploy/haproxy/haproxy.cfg as shipped (leastconn; "
        "checks every 1 s, fall 2, rise 2); Prometheus with deploy/monitoring's config and rules, every 1 s"
    )
    load = (
        f"REST: wrk, {REST_CONNECTIONS} connections, {REST_PAUSE_MS:.0f} ms pause between requests (native JSON "
        f"predict, 1 row); gRPC: h2load, {GRPC_CLIENTS} HTTP/2 connections x {GRPC_RPS_PER_CLIENT} ModelInfer/s"
    )
    text = render(cases, f"{REPLICAS} x `python -m service`, {fleet.network.note}", settings, load, elapsed,
                  load_at_start)  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale-latest.md").write_text(text + "\n")
    print("\n" + text)
    print(f"written to {RESULTS / 'scale-latest.md'}")
    failed = [case.name for case in cases if case.gated and not case.passed]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

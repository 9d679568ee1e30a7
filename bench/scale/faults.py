"""The reported cases: a replica killed with SIGKILL (what fails, and whether anything fails once the balancer has
marked it down), and a CPU-starved replica (p99 with leastconn against roundrobin)."""

from __future__ import annotations

import time

from .balancer import BACKENDS, Balancer
from .fleet import LEAD_SECONDS, CaseResult, Fleet, requests_per_server, under_load
from .starve import Starvation

STARVED_CPU_SHARE = 0.1  # of one CPU
ALGORITHM_SECONDS = 8.0


def kill_replica(fleet: Fleet) -> CaseResult:
    result = CaseResult("4. kill -9 of one replica", gated=False)
    victim = fleet.replicas[1]
    killed = 0.0

    def act() -> None:
        nonlocal killed
        killed = time.time()
        victim.kill()
        fleet.balancer.wait_state(victim.name, "DOWN", timeout=15)
        time.sleep(4.0)  # load on the remaining replicas after the mark

    result.rows, _, ended = under_load(fleet, result.name, LEAD_SECONDS + 8, act)
    downs = {b: t for t, b, s, state in fleet.balancer.state_changes(killed) if s == victim.name and state == "DOWN"}
    logged = fleet.balancer.requests(killed - 1, ended)
    for protocol, backend in BACKENDS.items():
        down = downs.get(backend)
        failed = [r for r in logged if r.backend == backend and r.failed]
        retried = [r for r in logged if r.backend == backend and r.retries and not r.failed]
        after = [r for r in failed if down is not None and r.accepted > down]
        result.facts.append(
            f"{protocol}: marked down {down - killed:.2f} s after the kill; haproxy's log: {len(retried)} requests "
            f"retried and answered, {len(failed)} failed, {len(after)} of them accepted after the mark"
            if down is not None
            else f"{protocol}: never marked down"
        )
        if down is None or after:
            result.problems.append(f"{protocol}: {len(after)} failed after the balancer marked {victim.name} down")
    victim.start()
    victim.wait_ready()
    fleet.balancer.wait_state(victim.name, "UP")
    return result


def starved_replica(fleet: Fleet) -> CaseResult:
    """The same load with leastconn, then roundrobin (haproxy restarted with BALANCE=roundrobin, the same file),
    while one replica gets a tenth of a CPU."""
    result = CaseResult("5. CPU-starved replica", gated=False)
    victim = fleet.replicas[2]
    starvation = Starvation(victim.process.pid, STARVED_CPU_SHARE)
    result.facts.append(f"{victim.name} starved: {starvation.how}")
    try:
        for algorithm in ("leastconn", "roundrobin"):
            if fleet.balancer.balance != algorithm:
                fleet.balancer.stop()
                fleet.balancer = Balancer([r.placement for r in fleet.replicas], victim.logs, algorithm)
                fleet.balancer.wait_all_up()
            before = fleet.balancer.counters()
            rows, _, _ = under_load(fleet, f"{result.name}: {algorithm}", ALGORITHM_SECONDS, lambda: None)
            after = fleet.balancer.counters()
            for row in rows:
                served = requests_per_server(before, after, row.protocol)
                share = served.get(victim.name, 0) / max(sum(served.values()), 1)
                row.detail = "; ".join(filter(None, [f"{share:.0%} of requests to the starved replica", row.detail]))
            result.rows += rows
    finally:
        starvation.end()
    by = {(r.case.rsplit(" ", 1)[-1], r.protocol): r for r in result.rows}
    for protocol in BACKENDS:
        least, robin = by.get(("leastconn", protocol)), by.get(("roundrobin", protocol))
        if least and robin:
            result.facts.append(
                f"{protocol}: p99 {least.p99_ms:.1f} ms with leastconn, {robin.p99_ms:.1f} ms with roundrobin; p90 "
                f"{least.p90_ms:.1f} against {robin.p90_ms:.1f} ms; {least.sent} against {robin.sent} requests in "
                f"{ALGORITHM_SECONDS:.0f} s (each connection waits for its answer before its next request)"
            )
    return result

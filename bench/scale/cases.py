"""The gated cases: a rolling restart with the Deployment's drain sequence, a new version published to the shared
repository, a corrupt new version. Each runs under the steady load of fleet.under_load."""

from __future__ import annotations

import os
import shutil
import time

from .fleet import LEAD_SECONDS, CaseResult, Fleet, under_load
from .replicas import MODEL_POLL_SECONDS, SHUTDOWN_DELAY_SECONDS
from .traffic import MODEL, Answer, VersionProbe

LOAD_FAILED = "SigmoidServeModelLoadFailed"


def rolling_restart(fleet: Fleet) -> CaseResult:
    """One replica at a time: SIGTERM (readiness 503, still serving for SHUTDOWN_DELAY_SECONDS), haproxy takes it
    out, it drains and exits, starts again, haproxy puts it back; then the next."""
    result = CaseResult("1. rolling restart")
    steps: list[tuple[str, float, float, float, float, int]] = []

    def act() -> None:
        for replica in fleet.replicas:
            signalled = time.time()
            code = replica.drain()
            stopped = time.time()
            replica.start()
            replica.wait_ready()
            ready = time.time()
            fleet.balancer.wait_state(replica.name, "UP")
            steps.append((replica.name, signalled, stopped, ready, time.time(), code))

    per_replica = SHUTDOWN_DELAY_SECONDS + 1.5 * fleet.startup_seconds + 3.0
    result.rows, _, _ = under_load(fleet, result.name, LEAD_SECONDS + len(fleet.replicas) * per_replica + 2, act)
    for name, signalled, stopped, ready, up, code in steps:
        downs = {b: t for t, b, s, state in fleet.balancer.state_changes(signalled) if s == name and state == "DOWN"}
        out = max(downs.values()) - signalled if len(downs) == 2 else None
        result.facts.append(
            f"{name}: out of both backends {out:.1f} s after SIGTERM"
            if out is not None
            else f"{name}: not marked down in both backends ({sorted(downs)})"
        )
        result.facts[-1] += (
            f" (it stopped accepting at {SHUTDOWN_DELAY_SECONDS:.0f} s), exited {code}"
            f" after {stopped - signalled:.1f} s,"
            f" ready {ready - stopped:.1f} s after its restart, back in haproxy {up - ready:.1f} s later"
        )
        if code != 0:
            result.problems.append(f"{name} exited {code} after SIGTERM")
        if out is None or out >= stopped - signalled:
            result.problems.append(f"{name} was not taken out of the balancer before it stopped accepting")
    result.problems += [f"{r.protocol}: {r.failed} failed ({r.detail})" for r in result.rows if r.failed]
    return result


def publish(fleet: Fleet, version: int, content: bytes) -> None:
    """A version file appears whole or not at all: written beside, then renamed into place (what the exporter does)."""
    target = fleet.repository / MODEL / str(version) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name("model.onnx.tmp")
    staging.write_bytes(content)
    os.replace(staging, target)


def rollout(fleet: Fleet) -> tuple[CaseResult, int]:
    """A new version (a copy of the served file) published to the shared repository while the load runs: every
    replica must serve it; the probe's answers show how long old and new answers interleave."""
    result = CaseResult("2. new version published")
    old = fleet.replicas[0].served_version(MODEL)
    new = old + 1
    probe = VersionProbe(fleet.balancer.http, fleet.balancer.grpc, fleet.bodies.row).start()
    switched: dict[str, float] = {}
    published = 0.0

    def act() -> None:
        nonlocal published
        content = (fleet.repository / MODEL / str(old) / "model.onnx").read_bytes()
        published = time.monotonic()
        publish(fleet, new, content)
        deadline = published + MODEL_POLL_SECONDS + 15
        while len(switched) < len(fleet.replicas) and time.monotonic() < deadline:
            for replica in fleet.replicas:
                if replica.name not in switched and replica.served_version(MODEL) == new:
                    switched[replica.name] = time.monotonic() - published
            time.sleep(0.05)
        time.sleep(1.0)  # answers after the last switch

    result.rows, _, _ = under_load(fleet, result.name, LEAD_SECONDS + MODEL_POLL_SECONDS + 6, act)
    answers = probe.stop()
    missing = [r.name for r in fleet.replicas if r.name not in switched]
    if missing:
        result.problems.append(f"{', '.join(missing)} did not serve version {new}")
    window = interleave_window(answers, old, new)
    loads = [s for r in fleet.replicas for s in r.load_seconds(MODEL, new)]
    slowest_request = max((a.seconds for a in answers), default=0.0)
    bound = MODEL_POLL_SECONDS + max(loads, default=0.0) + slowest_request
    result.facts.append(
        f"every replica served version {new} at {max(switched.values(), default=float('nan')):.2f} s after the "
        f"file appeared ({', '.join(f'{k} {v:.2f} s' for k, v in sorted(switched.items()))})"
    )
    result.facts.append(
        f"old and new answers interleaved for {window:.2f} s ({len(answers)} probe answers); bound: "
        f"MODEL_POLL_SECONDS {MODEL_POLL_SECONDS:.1f} s + load and warm-up {max(loads, default=0.0):.2f} s + the "
        f"slowest request {slowest_request:.3f} s = {bound:.2f} s ({'within' if window <= bound else 'ABOVE'} it)"
    )
    result.problems += probe_errors(answers)
    result.problems += [f"{r.protocol}: {r.failed} failed ({r.detail})" for r in result.rows if r.failed]
    return result, new


def interleave_window(answers: list[Answer], old: int, new: int) -> float:
    """From the first answer of the new version to the last of the old one (0 when they never overlap)."""
    first_new = min((a.at for a in answers if a.version == new), default=None)
    last_old = max((a.at for a in answers if a.version == old), default=None)
    if first_new is None or last_old is None:
        return 0.0
    return max(0.0, last_old - first_new)


def probe_errors(answers: list[Answer]) -> list[str]:
    errors = [a for a in answers if a.error]
    return [f"probe: {len(errors)} errors, first: {errors[0].protocol} {errors[0].error}"] if errors else []


def corrupt_version(fleet: Fleet, served: int) -> CaseResult:
    """A version file that is not a model: every replica keeps `served`, no error reaches a client, and
    SigmoidServeModelLoadFailed fires in Prometheus (shipped rules, replicas scraped every second)."""
    result = CaseResult("3. corrupt new version")
    bad = served + 1
    probe = VersionProbe(fleet.balancer.http, fleet.balancer.grpc, fleet.bodies.row).start()
    rejected: dict[str, float] = {}
    fired: float | None = None

    def act() -> None:
        nonlocal fired
        published = time.monotonic()
        publish(fleet, bad, b"half a model file, or anything else that is not ONNX")
        deadline = published + MODEL_POLL_SECONDS + 15
        while len(rejected) < len(fleet.replicas) and time.monotonic() < deadline:
            for replica in fleet.replicas:
                if replica.name not in rejected and f"version {bad}" in replica.model_error(MODEL):
                    rejected[replica.name] = time.monotonic() - published
            time.sleep(0.05)
        waited = fleet.monitor.wait_firing(LOAD_FAILED, {"model": MODEL}, timeout=30)
        fired = None if waited is None else time.monotonic() - published

    result.rows, _, _ = under_load(fleet, result.name, LEAD_SECONDS + MODEL_POLL_SECONDS + 8, act)
    answers = probe.stop()
    versions = sorted({a.version for a in answers if a.version is not None})
    kept = {r.name: r.served_version(MODEL) for r in fleet.replicas}
    result.facts.append(
        f"rejected by every replica within {max(rejected.values(), default=float('nan')):.2f} s; each still serves "
        f"version {sorted(set(kept.values()))}; the probe's {len(answers)} answers were all version {versions}"
    )
    fired_text = f"fired {fired:.1f} s after the file appeared" if fired is not None else "never fired"
    result.facts.append(f"{LOAD_FAILED} {fired_text}")
    if len(rejected) < len(fleet.replicas):
        result.problems.append(f"not rejected by {sorted({r.name for r in fleet.replicas} - set(rejected))}")
    if set(kept.values()) != {served} or versions != [served]:
        result.problems.append(f"version {served} was not kept everywhere: replicas {kept}, answers {versions}")
    if fired is None:
        result.problems.append(f"{LOAD_FAILED} did not fire within 30 s")
    result.problems += probe_errors(answers)
    result.problems += [f"{r.protocol}: {r.failed} failed ({r.detail})" for r in result.rows if r.failed]
    shutil.rmtree(fleet.repository / MODEL / str(bad))  # later cases restart replicas: keep their start clean
    return result

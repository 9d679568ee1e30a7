"""`python -m bench.soak --duration 600` (`make soak DURATION=600`): a steady load for a while, with model changes.

A real `python -m service` with 2 workers serves `digits` (the demo model) and `spare` (a copy). First each
protocol's capacity is measured (wrk, 32 connections, 5 s). Then native JSON, v2 binary and TF Serving each get a
sixth of their capacity at once (half the server's capacity in all), paced by wrk's `delay()` and corrected each
minute, while:
- every minute (from 20 s) a new version of `digits` is written into the repository (a hot swap under load);
- every two minutes (from 40 s) `spare` is unloaded and loaded again through `/v2/repository`, and each answer is
  followed at once by 40 predictions on new connections (so that both workers get some): after the load they
  should all be served, after the unload none.
Each minute reports req/s and p99 per protocol, the requests that failed (with the status and the first body of
each), the RSS of each worker and what the model changes did. Exit status 1 when a request of the steady load
failed, a prediction right after an unload or a load was not what the API promised (a repository call answers once
every worker has applied it), a worker was replaced, or a worker's RSS grew by more than 20 MB.
Results: bench/results/soak-latest.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .load import Body, json_body, run_wrk, v2_binary_body, wrk_path
from .processes import PYTHON, ROOT, Server, rss_mb
from .soak_report import render

WORK = ROOT / "bench" / "work" / "soak"
RESULTS = ROOT / "bench" / "results"
DEMO = ROOT / "models" / "digits" / "1" / "model.onnx"
LUA = Path(__file__).with_name("soak.lua")
CONNECTIONS = 16  # per protocol during the soak
SWAP_FIRST, SWAP_EVERY = 20.0, 60.0
RELOAD_FIRST, RELOAD_EVERY = 40.0, 120.0
PROBES = 40
RSS_GROWTH_LIMIT_MB = 20.0


@dataclass
class Stream:
    """One protocol's share of the steady load."""

    name: str
    path: str
    body: Body
    capacity_rps: float = 0.0
    target_rps: float = 0.0
    delay_ms: float = 0.0
    process: subprocess.Popen | None = None


@dataclass
class Minute:
    index: int
    streams: dict[str, dict] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    load_average: float = 0.0


def repository() -> Path:
    shutil.rmtree(WORK, ignore_errors=True)
    for name in ("digits", "spare"):
        (WORK / "repository" / name / "1").mkdir(parents=True)
        shutil.copy(DEMO, WORK / "repository" / name / "1" / "model.onnx")
    return WORK / "repository"


def streams() -> list[Stream]:
    row = np.array(json.loads((ROOT / "models" / "digits" / "examples.json").read_text())["instances"][:1], np.float32)
    return [
        Stream("native", "/models/digits/predict", json_body(row, WORK / "row.json")),
        Stream("v2-binary", "/v2/models/digits/infer", v2_binary_body(row, "pixels", WORK / "row.v2.bin")),
        Stream("tfserving", "/v1/models/digits:predict", json_body(row, WORK / "row.tfs.json")),
    ]


def start_wrk(server: Server, stream: Stream, seconds: int) -> None:
    env = {
        **os.environ,
        "BENCH_BODY": str(stream.body.path),
        "BENCH_CONTENT_TYPE": stream.body.content_type,
        "BENCH_HEADER_LENGTH": str(stream.body.header_length or ""),
        "SOAK_DELAY_MS": f"{stream.delay_ms:.3f}",
    }
    command = [wrk_path(), "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    stream.process = subprocess.Popen(
        [*command, server.url + stream.path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish_wrk(stream: Stream) -> dict:
    output = stream.process.communicate()[0]
    line = next((x for x in output.splitlines() if x.startswith("SOAK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result for {stream.name}:\n{output[-2000:]}")
    stats = json.loads(line.removeprefix("SOAK_JSON "))
    rps = stats["requests"] / (stats["duration_us"] / 1e6)
    failed = sum(s["count"] for s in stats["statuses"].values())
    failed += sum(stats[k] for k in ("connect", "read", "write", "timeout"))
    # The pause each connection needs for the target rate, from the pace this minute actually had; half the
    # correction only, so that a minute slowed down by something else on the machine is not overcompensated.
    period_now_ms, period_wanted_ms = CONNECTIONS * 1000 / max(rps, 1), CONNECTIONS * 1000 / stream.target_rps
    stream.delay_ms = max(0.0, stream.delay_ms + (period_wanted_ms - period_now_ms) / 2)
    return {"rps": rps, "p50_ms": stats["p50_us"] / 1000, "p99_ms": stats["p99_us"] / 1000, "failed": failed, **stats}


def workers(server: Server) -> dict[int, float]:
    """RSS (MB) of each uvicorn worker: the supervisor's children that run multiprocessing's spawn_main."""
    sizes = rss_mb(server.process.pid)
    found = {}
    for pid, size in sizes.items():
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found[pid] = size
        except OSError:
            continue
    return found


def call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str]:
    """One request on its own connection (urllib opens a new one each time), so requests spread over workers."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, str(error)


def hot_swap(server: Server, root: Path, version: int) -> dict:
    """Write `digits` version N the way the exporter does (complete file, then one rename), wait until it serves."""
    incoming = root / "digits" / f".incoming-{version}"
    incoming.mkdir()
    shutil.copy(DEMO, incoming / "model.onnx")
    incoming.rename(root / "digits" / str(version))
    for old in root.joinpath("digits").iterdir():  # keep the last two versions on disk
        if old.name.isdigit() and int(old.name) < version - 1:
            shutil.rmtree(old)
    started = time.monotonic()
    while time.monotonic() - started < 30:
        seen = {json.loads(body).get("version") for _, body in (call(server.url + "/models/digits") for _ in range(8))}
        if seen == {version}:
            return {"event": "hot swap", "version": version, "seconds_until_served": time.monotonic() - started}
        time.sleep(0.2)
    return {"event": "hot swap", "version": version, "seconds_until_served": None}


def unload_and_load(server: Server) -> dict:
    """Unload `spare`, predict at once; load it, predict at once. Statuses of the predictions are what we report."""
    row = json.dumps(
        {"instances": json.loads((ROOT / "models" / "digits" / "examples.json").read_text())["instances"][:1]}
    )
    predict = server.url + "/models/spare/predict"
    outcome: dict = {"event": "unload/load spare"}
    for action in ("unload", "load"):
        status, body = call(f"{server.url}/v2/repository/models/spare/{action}", "POST", b"{}")
        answers = [call(predict, "POST", row.encode()) for _ in range(PROBES)]
        outcome[action] = {
            "status": status,
            "after": dict(Counter(str(code) for code, _ in answers)),
            "bodies": sorted({text[:200] for code, text in answers if code != 200}),
        }
    outcome["unexpected"] = outcome["unload"]["after"].get("200", 0) + PROBES - outcome["load"]["after"].get("200", 0)
    return outcome


def soak(duration: float) -> int:
    root = repository()
    server = Server("soak", [PYTHON, "-m", "service"], {"MODEL_REPOSITORY": str(root), "WORKERS": "2"})
    plan = streams()
    minutes: list[Minute] = []
    with server:
        for stream in plan:  # capacity, each protocol alone
            stream.capacity_rps = run_wrk(server.url + stream.path, stream.body, 32, 5, server.process.pid)["rps"]
            stream.target_rps = stream.capacity_rps / 2 / len(plan)
            stream.delay_ms = CONNECTIONS * 1000 / stream.target_rps
            print(f"{stream.name}: capacity {stream.capacity_rps:.0f} req/s, soak at {stream.target_rps:.0f}")
        rss_start = workers(server)
        started = time.monotonic()
        next_swap, next_reload, version = SWAP_FIRST, RELOAD_FIRST, 1
        while (elapsed := time.monotonic() - started) < duration - 1:
            minute = Minute(len(minutes) + 1)
            seconds = int(min(60, duration - elapsed))
            for stream in plan:
                start_wrk(server, stream, seconds)
            while any(stream.process.poll() is None for stream in plan):
                now = time.monotonic() - started
                if now >= next_swap:
                    version += 1
                    minute.events.append(hot_swap(server, root, version))
                    next_swap += SWAP_EVERY
                elif now >= next_reload:
                    minute.events.append(unload_and_load(server))
                    next_reload += RELOAD_EVERY
                time.sleep(0.1)
            minute.streams = {stream.name: finish_wrk(stream) for stream in plan}
            minute.rss_mb = {str(pid): size for pid, size in workers(server).items()}
            minute.load_average = os.getloadavg()[0]  # what else ran on the machine, for reading the p99
            minutes.append(minute)
            print(json.dumps({"minute": minute.index, "events": minute.events, **minute.streams}), flush=True)
    result = summarize(plan, minutes, rss_start, duration)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak-latest.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "soak-latest.md").write_text(render(result))
    print(render(result))
    failed = (
        result["failed_requests"] > 0
        or result["repository_surprises"] > 0
        or result["workers_replaced"]
        or result["max_rss_growth_mb"] > RSS_GROWTH_LIMIT_MB
    )
    return 1 if failed else 0


def summarize(plan: list[Stream], minutes: list[Minute], rss_start: dict[int, float], duration: float) -> dict:
    last = minutes[-1].rss_mb if minutes else {}
    growth = {pid: last[str(pid)] - size for pid, size in rss_start.items() if str(pid) in last}
    return {
        "duration_s": duration,
        "capacity_rps": {s.name: s.capacity_rps for s in plan},
        "target_rps": {s.name: s.target_rps for s in plan},
        "minutes": [vars(m) for m in minutes],
        "failed_requests": sum(s["failed"] for m in minutes for s in m.streams.values()),
        "requests": sum(s["requests"] for m in minutes for s in m.streams.values()),
        "rss_start_mb": {str(pid): size for pid, size in rss_start.items()},
        "max_rss_growth_mb": max(growth.values(), default=0.0),
        "workers_replaced": set(map(str, rss_start)) != set(last),
        "repository_surprises": sum(e.get("unexpected", 0) for m in minutes for e in m.events),
        "rss_growth_limit_mb": RSS_GROWTH_LIMIT_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of steady load (default 600)")
    args = parser.parse_args()
    raise SystemExit(soak(args.duration))


if __name__ == "__main__":
    main()

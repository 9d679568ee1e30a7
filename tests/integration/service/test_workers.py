"""WORKERS=2 on a real server: the workers answer as one (metrics summed, repository control followed).

Every request below opens its own connection, so the kernel hands them to either worker. What proves that the
workers share is a number no single worker holds: the requests each worker answered, summed; a load that every
worker made counted once for the server; a version unloaded only when both workers have let it go.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton

from service.settings import available_cpus
from tests.support.scrape import scrape, value
from tests.support.server import RunningServer, serving, worker_pids

ROW = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0] * 8
LOADED = "sigmoid_serve_model_loaded"
LOADS = "sigmoid_serve_model_loads_total"
DEMO_REPOSITORY = {"MODEL_REPOSITORY": "models", "DEFAULT_MODEL": "digits"}  # three demos: /predict answers digits


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def two_workers(shared_dir: Path) -> Iterator[RunningServer]:
    yield from serving({**DEMO_REPOSITORY, "WORKERS": "2", "SHARED_DIR": str(shared_dir)})


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def test_ready_means_every_worker_has_loaded(two_workers: RunningServer, shared_dir: Path) -> None:
    # The fixture waited for /health/ready: by then both workers have loaded the model, wherever requests go;
    # the server loaded it once, as far as its metrics tell.
    assert value(scrape(two_workers), LOADS, model="digits", outcome="success") == 1
    roster = sorted(int(p.name.removesuffix(".json")) for p in (shared_dir / "applied").iterdir())
    assert roster == worker_pids(two_workers.process.pid)
    assert len(roster) == 2


def test_metrics_are_summed_over_the_workers(two_workers: RunningServer) -> None:
    before = scrape(two_workers)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: predict(two_workers).status_code, range(64)))
    assert statuses == [200] * 64
    for _ in range(10):  # whichever worker answers the scrape, it reports both workers' requests
        after = scrape(two_workers)
        labels = {"model": "digits", "protocol": "native", "status": "200"}
        assert (
            value(after, "sigmoid_serve_requests_total", **labels)
            - value(before, "sigmoid_serve_requests_total", **labels)
            == 64
        )
        assert value(after, LOADS, model="digits", outcome="success") == 1
        assert value(after, LOADED, model="digits", version="1") == 1


def test_an_unload_and_a_load_reach_every_worker(two_workers: RunningServer) -> None:
    assert httpx.post(f"{two_workers.url}/v2/repository/models/digits/unload").status_code == 200
    # The summed gauge is the maximum over live workers: 0 only once neither worker serves the version.
    eventually(lambda: value(scrape(two_workers), LOADED, model="digits", version="1") == 0, "both unloaded")
    for _ in range(10):
        assert predict(two_workers).status_code in (400, 404, 503)
        index = httpx.post(f"{two_workers.url}/v2/repository/index").json()
        digits = [entry for entry in index if entry["name"] == "digits"]
        assert digits == [{"name": "digits", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}]
        assert httpx.get(f"{two_workers.url}/health/ready").status_code == 200  # an unload was asked for

    assert httpx.post(f"{two_workers.url}/v2/repository/models/digits/load").status_code == 200
    eventually(lambda: value(scrape(two_workers), LOADED, model="digits", version="1") == 1, "reloaded")
    assert value(scrape(two_workers), LOADS, model="digits", outcome="success") == 2  # at start, and this load
    for _ in range(10):
        assert predict(two_workers).status_code == 200


def test_two_workers_stop_cleanly_and_start_without_the_old_unloads(tmp_path: Path) -> None:
    server = RunningServer({**DEMO_REPOSITORY, "WORKERS": "2", "SHARED_DIR": str(tmp_path)})
    try:
        assert httpx.post(f"{server.url}/v2/repository/models/digits/unload").status_code == 200
    finally:
        assert server.stop() == 0
    again = RunningServer({**DEMO_REPOSITORY, "WORKERS": "2", "SHARED_DIR": str(tmp_path)})
    try:  # an unload lasts as long as the server that was asked, as in Triton
        for _ in range(10):
            assert predict(again).status_code == 200
        assert value(scrape(again), LOADS, model="digits", outcome="success") == 1  # this run's load only
    finally:
        assert again.stop() == 0


def test_a_worker_that_dies_is_replaced_and_readiness_waits_for_it(tmp_path: Path) -> None:
    server = RunningServer({**DEMO_REPOSITORY, "WORKERS": "2", "SHARED_DIR": str(tmp_path)})
    try:
        for _ in range(10):
            assert predict(server).status_code == 200
        served = value(scrape(server), "sigmoid_serve_requests_total", model="digits", protocol="native", status="200")
        first = worker_pids(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        eventually(lambda: len(set(worker_pids(server.process.pid)) - set(first)) == 1, "a replacement worker")

        def ready_with_the_replacement() -> bool:  # the dead worker's roster entry must not stand in for it
            ready = httpx.get(f"{server.url}/health/ready").status_code == 200
            return ready and sorted(
                int(p.name.removesuffix(".json")) for p in (tmp_path / "applied").iterdir()
            ) == worker_pids(server.process.pid)

        eventually(ready_with_the_replacement, "ready with both live workers on the roster")
        after = scrape(server)
        assert value(after, LOADS, model="digits", outcome="success") == 1  # the replacement loaded the same file
        assert value(after, LOADED, model="digits", version="1") == 1
        # Counters keep what the dead worker counted: totals never go down.
        assert value(after, "sigmoid_serve_requests_total", model="digits", protocol="native", status="200") >= served
    finally:
        assert server.stop() == 0


def test_by_default_one_worker_per_available_cpu() -> None:
    server = RunningServer({**DEMO_REPOSITORY, "WORKERS": "auto"})
    try:
        expected = available_cpus()
        assert len(worker_pids(server.process.pid)) == (expected if expected > 1 else 0)  # 1: no child process
        assert predict(server).status_code == 200
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        (None, "all"),
        ("max 100000\n", "all"),
        ("100000 100000\n", 1),
        ("150000 100000\n", 1),
        ("200000 100000", 2),
        ("50000 100000", 1),
    ],
)
def test_auto_follows_the_cgroup_cpu_limit(tmp_path: Path, cpu_max: str | None, expected: int | str) -> None:
    if cpu_max is not None:
        (tmp_path / "cpu.max").write_text(cpu_max)
    allowed = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == (allowed if expected == "all" else min(allowed, expected))


def predict(server: RunningServer) -> httpx.Response:
    return httpx.post(f"{server.url}/predict", json={"instances": [ROW]})


def socket_owners(port: int, state: str) -> list[set[int]]:
    """For each TCP socket on `port` in `state` (/proc/net/tcp's hex code: 0A listening, 01 established), the
    processes holding it (from /proc, so no `ss` is needed)."""
    inodes = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.append(fields[9])
    owners: dict[str, set[int]] = {inode: set() for inode in inodes}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        inode = target[len("socket:[") : -1] if target.startswith("socket:[") else None
        if inode in owners:
            owners[inode].add(int(fd.parent.parent.name))
    return list(owners.values())


def test_each_worker_accepts_on_its_own_socket(two_workers: RunningServer) -> None:
    """SO_REUSEPORT: one listening socket per worker and none in the parent, so the kernel spreads connections
    instead of idle workers racing for them (where one could take a whole burst)."""
    workers = set(worker_pids(two_workers.process.pid))
    listening = socket_owners(two_workers.port, "0A")
    assert sorted(len(owners) for owners in listening) == [1, 1]
    assert set().union(*listening) == workers
    held = [httpx.Client(base_url=two_workers.url) for _ in range(32)]
    try:
        for client in held:
            assert client.get("/health/live").status_code == 200
        connected = socket_owners(two_workers.port, "01")
        per_worker = {pid: sum(pid in owners for owners in connected) for pid in workers}
        assert all(count > 0 for count in per_worker.values()), per_worker  # 2**-31 to fail by chance
    finally:
        for client in held:
            client.close()


def test_load_and_unload_have_taken_effect_on_every_worker_when_they_answer(two_workers: RunningServer) -> None:
    """tritonclient's load_model() then infer() succeeds, on whichever worker the request lands; after
    unload_model() no worker answers with the model. 100 times in a row."""
    client = triton.InferenceServerClient(two_workers.url.removeprefix("http://"))
    pixels = np.array([ROW], np.float32)
    try:
        for _ in range(100):
            client.unload_model("digits")
            assert all(predict(two_workers).status_code == 503 for _ in range(3))  # fresh connections: any worker
            client.load_model("digits")
            request = triton.InferInput("pixels", [1, 64], "FP32")
            request.set_data_from_numpy(pixels)
            assert client.infer("digits", [request]).as_numpy("probabilities").shape == (1, 5)
            assert all(predict(two_workers).status_code == 200 for _ in range(3))
    finally:
        client.close()

"""Per-request deadlines: the core's rule, rows past their deadline never run, and the HTTP answer."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.core.batcher import Batcher
from service.core.dataplane import DataPlane
from service.core.deadline import request_deadline
from service.core.errors import DeadlineExceeded
from service.core.model_state import RepositoryConfig
from service.core.registry import ModelRegistry
from service.core.types import InferenceRequest
from tests.support.repository_files import publish_linear
from tests.support.server import RunningServer, serving

ROW = [[0.1, 0.2, 0.3, 0.4]]


def test_the_client_only_shortens_the_limit() -> None:
    assert request_deadline(10.0, 1000, 250).timeout_ms == 250
    assert request_deadline(10.0, 100, 250).timeout_ms == 100  # capped by REQUEST_TIMEOUT_MS
    assert request_deadline(10.0, 0, 250).timeout_ms == 250  # no server limit: the client's
    assert request_deadline(10.0, 1000, None).at == 11.0  # counted from arrival
    assert request_deadline(10.0, 0, None) is None


class GatedRun:
    """Wraps a model's run: counts rows run and blocks each call until released."""

    def __init__(self, run) -> None:
        self.run = run
        self.rows_run: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        self.entered.set()
        self.release.wait(timeout=30)
        self.rows_run.append(next(iter(arrays.values())).shape[0])
        return self.run(arrays)


def test_rows_past_their_deadline_are_never_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        publish_linear(tmp_path, "m", 1, seed=1)
        registry = ModelRegistry(RepositoryConfig(tmp_path))
        await registry.load_all()
        plane = DataPlane(registry)
        handle = plane.lookup("m")
        served = handle.served
        gate = GatedRun(served.model.run)
        served.batcher = Batcher(gate, max_batch_size=64, max_delay_ms=0, max_queue_rows=1024)

        first = asyncio.create_task(plane.infer(handle, InferenceRequest({"features": ROW})))
        await asyncio.to_thread(gate.entered.wait, 30)  # the worker is busy with the first request
        with pytest.raises(DeadlineExceeded, match="deadline of 1 ms"):
            await plane.infer(handle, InferenceRequest({"features": ROW * 5}, timeout_ms=1))
        gate.release.set()
        assert (await first).rows == 1
        third = await plane.infer(handle, InferenceRequest({"features": ROW * 2}))
        assert third.rows == 2
        assert gate.rows_run == [1, 2]  # the 5 rows whose deadline passed were never run
        await registry.close()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("slow-repository")
    publish_linear(root, "slow", 1, seed=1)
    # A batch waits 10 minutes for company (shutdown cuts that short), so no request here is ever run: each
    # outlives the 200 ms limit. (With a short delay, a request arriving late in a window an earlier one
    # opened would run at once and could beat its deadline.)
    env = {"MODEL_REPOSITORY": str(root), "MAX_BATCH_DELAY_MS": "600000", "REQUEST_TIMEOUT_MS": "200"}
    yield from serving(env)


@pytest.mark.parametrize(("header", "limit"), [(None, "200 ms"), ("50", "50 ms"), ("100000", "200 ms")])
def test_request_past_its_deadline_gets_504(slow_server: RunningServer, header: str | None, limit: str) -> None:
    headers = {"X-Request-Timeout-Ms": header} if header else {}
    url = slow_server.url + "/models/slow/predict"
    response = httpx.post(url, json={"instances": ROW}, headers=headers, timeout=10)
    assert response.status_code == 504, response.text
    assert f"deadline of {limit}" in response.json()["error"]
    assert httpx.get(slow_server.url + "/health/ready").status_code == 200


def test_bad_timeout_header_is_a_400(slow_server: RunningServer) -> None:
    headers = {"X-Request-Timeout-Ms": "soon"}
    response = httpx.post(slow_server.url + "/models/slow/predict", json={"instances": ROW}, headers=headers)
    assert response.status_code == 400 and "X-Request-Timeout-Ms" in response.json()["error"]


def hang_up(server: RunningServer, times: int) -> None:
    """Send whole predict requests over raw sockets and close them without reading the answer."""
    body = json.dumps({"instances": ROW}).encode()
    request = (
        f"POST /models/slow/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(times):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request)


def test_client_that_hangs_up_leaves_the_server_healthy(slow_server: RunningServer) -> None:
    hang_up(slow_server, 3)
    assert httpx.get(slow_server.url + "/health/ready").status_code == 200
    response = httpx.post(slow_server.url + "/models/slow/predict", json={"instances": ROW}, timeout=10)
    assert response.status_code == 504  # the server still answers, in time


def test_client_hang_ups_count_as_499_not_server_errors(tmp_path: Path) -> None:
    publish_linear(tmp_path, "slow", 1, seed=1)
    # No deadline and a batch that waits 10 minutes: only the hang-up itself can end these requests.
    env = {"MODEL_REPOSITORY": str(tmp_path), "MAX_BATCH_DELAY_MS": "600000", "REQUEST_TIMEOUT_MS": "0"}
    server = RunningServer(env)
    try:
        hang_up(server, 3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and requests_by_status(server).get("499", 0) < 3:
            time.sleep(0.05)
        assert requests_by_status(server) == {"499": 3}
        assert not [line for line in server.lines if "request failed" in line]
    finally:
        server.stop()


def requests_by_status(server: RunningServer) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "sigmoid_serve_requests_total":
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


def test_close_runs_what_is_queued_without_waiting_out_the_batch_delay() -> None:
    async def scenario() -> None:
        runs: list[int] = []

        def run(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            runs.append(arrays["x"].shape[0])
            return arrays["x"], arrays["x"]

        batcher = Batcher(run, max_batch_size=64, max_delay_ms=600_000, max_queue_rows=1024)
        queued = asyncio.create_task(batcher.submit({"x": np.ones((3, 2), np.float32)}, 3))
        for _ in range(10):
            await asyncio.sleep(0)
        assert batcher._delay_over is not None  # queued, and the worker waits up to 10 minutes for more rows
        await asyncio.wait_for(batcher.close(), 30)  # bounded: a failure shows as a timeout, not a hang
        probabilities, _ = await queued
        assert probabilities.shape == (3, 2) and runs == [3]

    asyncio.run(scenario())

"""Shutdown and health semantics of a real `python -m service` process: SIGTERM drains, readiness
turns 503, the exit status is 0; a model that fails to load leaves the service live but not ready."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer
from tests.support.slow_model import slow_model

ROW = [[0.1, 0.2, 0.3, 0.4]]


@pytest.fixture(scope="module")
def slow_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    slow_model(root / "slow" / "1" / "model.onnx", steps=12)
    return root


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def predict(url: str) -> httpx.Response:
    return httpx.post(f"{url}/models/slow/predict", json={"instances": ROW}, timeout=60)


def test_sigterm_finishes_in_flight_requests_and_exits_0(slow_repository: Path) -> None:
    # One row per batch: three requests run one after another, so some are still queued at SIGTERM.
    server = RunningServer({"MODEL_REPOSITORY": str(slow_repository), "MAX_BATCH_SIZE": "1"})
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(predict, server.url) for _ in range(3)]
            time.sleep(0.5)  # let the server accept the three connections
            assert not all(f.done() for f in futures), "requests must still be in flight at SIGTERM"
            server.process.send_signal(signal.SIGTERM)
            responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert all(len(r.json()["predictions"]) == 1 for r in responses)
        assert server.process.wait(timeout=30) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health/live", timeout=2)
    finally:
        server.stop()


def test_readiness_is_503_as_soon_as_sigterm_arrives(tmp_path: Path) -> None:
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    server = RunningServer({"MODEL_REPOSITORY": str(tmp_path), "SHUTDOWN_DELAY_SECONDS": "3"})
    try:
        assert httpx.get(f"{server.url}/health/ready").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(f"{server.url}/health/ready").status_code == 503)
        body = httpx.get(f"{server.url}/health/ready").json()
        assert body["reasons"] == ["shutting down"]
        # Still serving during the delay: liveness and predictions keep working.
        assert httpx.get(f"{server.url}/health/live").status_code == 200
        assert httpx.post(f"{server.url}/predict", json={"instances": ROW}).status_code == 200
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert "readiness is 503" in server.output


def test_corrupt_model_leaves_the_service_live_but_not_ready(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "1" / "model.onnx"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not an ONNX model")
    server = RunningServer({"MODEL_REPOSITORY": str(tmp_path)}, wait_ready=False)
    try:
        assert httpx.get(f"{server.url}/health/live").status_code == 200
        wait_for(lambda: "loading" not in httpx.get(f"{server.url}/health/ready").text)
        ready = httpx.get(f"{server.url}/health/ready")
        assert ready.status_code == 503
        (reason,) = ready.json()["reasons"]
        assert reason.startswith("broken: version 1: ")
        assert len(reason) > len("broken: version 1: ")
        assert httpx.get(f"{server.url}/health/live").status_code == 200
    finally:
        assert server.stop() == 0
    # The log names the model and gives the same reason as the readiness body (whatever LOG_FORMAT is).
    assert "model broken version 1" in server.output
    assert reason.removeprefix("broken: version 1: ") in server.output

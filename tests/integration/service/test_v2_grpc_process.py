"""Where gRPC runs, checked on real `python -m service` processes: two workers both answer on the one GRPC_PORT
(SO_REUSEPORT), SIGTERM lets calls in flight finish before the exit, a port already taken is refused at start,
and GRPC_PORT=0 turns gRPC off."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer
from tests.support.slow_model import slow_model

ROW = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
# A channel of its own connection: gRPC otherwise shares one connection among channels to the same address.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def infer(target: str, model: str, timeout: float = 60) -> np.ndarray:
    client = triton.InferenceServerClient(target, channel_args=OWN_CONNECTION)
    try:
        tensor = triton.InferInput("features", [1, 4], "FP32")
        tensor.set_data_from_numpy(ROW)
        return client.infer(model, [tensor], client_timeout=timeout).as_numpy("probabilities")
    finally:
        client.close()


def rows_counted(target: str) -> int:
    client = triton.InferenceServerClient(target, channel_args=OWN_CONNECTION)
    try:
        return client.get_inference_statistics("linear").model_stats[0].inference_count
    finally:
        client.close()


@pytest.fixture(scope="module")
def linear_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("linear-only")
    linear_model(root / "linear" / "1" / "model.onnx")
    return root


def test_two_workers_both_answer_on_the_grpc_port(linear_repository: Path) -> None:
    """Statistics are per worker: over many connections, two different counts show two workers answering."""
    server = RunningServer({"MODEL_REPOSITORY": str(linear_repository), "WORKERS": "2"})
    try:
        calls = 24
        for _ in range(calls):
            assert infer(server.grpc_target, "linear").shape == (1, 3)
        counts = {rows_counted(server.grpc_target) for _ in range(calls)}
        assert not counts & {0, calls}, f"one worker answered every connection: {counts}"
        # Each worker counted the calls it served, and nothing twice (an even split shows as one count).
        assert sum(counts) == calls or counts == {calls // 2}, counts
    finally:
        assert server.stop() == 0


def test_sigterm_lets_calls_in_flight_finish(tmp_path: Path) -> None:
    slow_model(tmp_path / "slow" / "1" / "model.onnx", steps=12)
    server = RunningServer({"MODEL_REPOSITORY": str(tmp_path), "MAX_BATCH_SIZE": "1"})
    try:
        with ThreadPoolExecutor(3) as pool:
            calls = [pool.submit(infer, server.grpc_target, "slow") for _ in range(3)]
            time.sleep(0.5)
            assert not all(c.done() for c in calls), "calls must still be in flight at SIGTERM"
            server.process.send_signal(signal.SIGTERM)
            answers = [c.result() for c in calls]
        assert all(a.shape == (1, 3) for a in answers)
        assert server.process.wait(timeout=30) == 0
        with pytest.raises(Exception, match="UNAVAILABLE"):
            infer(server.grpc_target, "slow", timeout=2)
    finally:
        server.stop()


def test_a_grpc_port_in_use_is_refused_at_start(linear_repository: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"GRPC_PORT {port} is already in use on 127.0.0.1"):
            RunningServer({"MODEL_REPOSITORY": str(linear_repository), "GRPC_PORT": str(port)})


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on, from /proc (its socket inodes among the listening sockets)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_grpc_listens_beside_http_and_port_0_turns_it_off(linear_repository: Path) -> None:
    server = RunningServer({"MODEL_REPOSITORY": str(linear_repository)})
    try:
        assert listening_ports(server.process.pid) == {server.port, server.grpc_port}
    finally:
        server.stop()
    server = RunningServer({"MODEL_REPOSITORY": str(linear_repository), "GRPC_PORT": "0"})
    try:
        assert listening_ports(server.process.pid) == {server.port}
        assert "gRPC" not in server.output
    finally:
        server.stop()

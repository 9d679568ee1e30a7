"""Faults injected into a real server, and survived: a worker killed (SIGKILL) in the middle of a hot swap, SIGTERM
while batches run, and a damaged shared folder under two workers.

Requests here open a connection each (so the kernel spreads them over the workers) and are timed, so a failure can
be placed against the moment of the fault.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.repository_files import publish, publish_linear, wait_for
from tests.server import RunningServer
from tests.service.test_workers import worker_pids
from tests.slow_model import slow_model

ROW = [0.1, 0.2, 0.3, 0.4]


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None = None  # None: no answer (the connection failed)
    version: int | None = None
    body: str = ""


class Load:
    """Callers in threads, each sending one request after another on a new connection, until stopped."""

    def __init__(self, send: Callable[[], httpx.Response], callers: int) -> None:
        self.outcomes: list[Outcome] = []
        self._send = send
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(callers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _call(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = self._send()
            except httpx.TransportError:
                self.outcomes.append(Outcome(started, time.monotonic()))
                continue
            version = response.json().get("model_version") if response.status_code == 200 else None
            self.outcomes.append(Outcome(started, time.monotonic(), response.status_code, version, response.text))


def process_gone(pid: int) -> bool:
    """Exited (its sockets closed): no such process, or a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_worker_killed_during_a_hot_swap_is_replaced_by_one_serving_the_new_version(tmp_path: Path) -> None:
    """Version 2 takes about 2 s to load and warm up, so both workers are in the middle of the swap when one is
    killed. Only requests in flight on the killed worker may go unanswered; every other request gets a 200, from
    version 1 or 2, never a 503 from the replacement while it loads; readiness returns with version 2 everywhere."""
    repository, shared = tmp_path / "repository", tmp_path / "shared"
    publish_linear(repository, "m", 1, seed=1)
    env = {"MODEL_REPOSITORY": str(repository), "MODEL_POLL_SECONDS": "0.2", "WORKERS": "2", "SHARED_DIR": str(shared)}
    server = RunningServer(env)
    try:
        send = lambda: httpx.post(f"{server.url}/models/m/predict", json={"instances": [ROW]}, timeout=60)  # noqa: E731
        with Load(send, callers=4) as load:
            time.sleep(1.0)
            publish(repository / "m" / "2" / "model.onnx", lambda path: slow_model(path, steps=4))
            time.sleep(0.6)  # three polls: both workers have started loading version 2
            victim = worker_pids(server.process.pid)[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: process_gone(victim), "the killed worker to exit")
            gone_at = time.monotonic()
            wait_for(lambda: len(set(worker_pids(server.process.pid)) - {victim}) == 2, "a replacement worker", 30)
            wait_for(lambda: httpx.get(f"{server.url}/health/ready").status_code == 200, "readiness again", 60)
            time.sleep(1.0)  # the load goes on against the replacement
        outcomes = load.outcomes
        assert not [o for o in outcomes if o.version == 2 and o.ended < killed_at], "the swap ended before the kill"
        unanswered = [o for o in outcomes if o.status is None]
        assert all(o.started < gone_at for o in unanswered), "a request failed after the killed worker had gone"
        assert len(unanswered) <= 4  # at most the one in flight per caller
        refused = [(o.status, o.body) for o in outcomes if o.status not in (None, 200)]
        assert refused == [], refused[:5]
        assert {o.version for o in outcomes if o.started > gone_at} >= {2}
        for _ in range(10):  # whichever worker a new connection reaches, it serves version 2
            assert send().json()["model_version"] == 2
    finally:
        assert server.stop() == 0

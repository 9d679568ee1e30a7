"""Faults injected into a real server, and survived: a worker killed (SIGKILL) in the middle of a hot swap, SIGTERM
while batches run, and a damaged shared folder under two workers.

Requests here open a connection each (so the kernel spreads them over the workers) and are timed, so a failure can
be placed against the moment of the fault.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import tritonclient.grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from service.http.front_door import STOPPING
from tests.support.fuzzing import http_request, read_answer
from tests.support.repository_files import publish, publish_linear, wait_for
from tests.support.server import RunningServer, worker_pids
from tests.support.slow_model import slow_model

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
    """Version 2 takes seconds to load and warm up, so both workers are in the middle of the swap when one is
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
            publish(repository / "m" / "2" / "model.onnx", lambda path: slow_model(path, steps=8))
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


PROTOCOLS = ("native", "v2", "tfserving", "grpc")
V2_ROW = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": ROW}]}
HTTP_CALLS = {
    "native": (b"/models/slow/predict", json.dumps({"instances": [ROW]}).encode()),
    "v2": (b"/v2/models/slow/infer", json.dumps(V2_ROW).encode()),
    "tfserving": (b"/v1/models/slow:predict", json.dumps({"instances": [ROW]}).encode()),
}


class Caller:
    """One one-row request on its own connection, sent at once; `answer()` waits for what came back: ("200", ""),
    (status, JSON error), ("OK", "") or (gRPC code, message), or ("no answer", what happened)."""

    def __init__(self, server: RunningServer, protocol: str) -> None:
        self.protocol = protocol
        self.done = threading.Event()
        self.outcome = ("no answer", "")
        if protocol == "grpc":
            self.client = triton_grpc.InferenceServerClient(server.grpc_target)
            tensor = triton_grpc.InferInput("features", [1, 4], "FP32")
            tensor.set_data_from_numpy(np.array([ROW], np.float32))
            self.client.async_infer("slow", [tensor], self._grpc_done, client_timeout=60)
        else:
            path, body = HTTP_CALLS[protocol]
            head = [(b"Content-Type", b"application/json")]
            self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            self.sock.sendall(http_request("POST", path, head, body))
            threading.Thread(target=self._read, daemon=True).start()

    def _grpc_done(self, result: object, error: InferenceServerException | None) -> None:
        self.outcome = ("OK", "") if error is None else (error.status().removeprefix("StatusCode."), error.message())
        self.done.set()

    def _read(self) -> None:
        try:
            answer = read_answer(self.sock)
            if answer is not None:
                error = "" if answer.status == 200 else answer.json()["error"]  # a JSON error body, or this raises
                self.outcome = (str(answer.status), error)
        except (OSError, ValueError, KeyError) as exc:
            self.outcome = ("no answer", repr(exc))
        finally:
            self.sock.close()
            self.done.set()

    def answer(self, timeout: float) -> tuple[str, str]:
        assert self.done.wait(timeout), f"a {self.protocol} caller got no answer within {timeout} s"
        if self.protocol == "grpc":
            self.client.close()
        return self.outcome


def sigterm_while_batches_run(tmp_path: Path, grace_seconds: float) -> tuple[list[tuple[str, str]], RunningServer]:
    """24 one-row callers over the four protocols, two rows a batch (about half a second each): SIGTERM once every
    request has been received, with most rows still waiting."""
    slow_model(tmp_path / "slow" / "1" / "model.onnx", steps=8)
    env = {"MODEL_REPOSITORY": str(tmp_path), "MAX_BATCH_SIZE": "2", "SHUTDOWN_GRACE_SECONDS": str(grace_seconds)}
    server = RunningServer(env)
    try:
        callers = [Caller(server, PROTOCOLS[i % 4]) for i in range(24)]
        time.sleep(0.3)  # the server has read every request (ONNX Runtime runs outside its event loop)
        assert sum(caller.done.is_set() for caller in callers) < 12, "the callers must still be in flight at SIGTERM"
        server.process.send_signal(signal.SIGTERM)
        answers = [caller.answer(timeout=grace_seconds + 30) for caller in callers]  # none hangs
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    return answers, server


def test_sigterm_while_batches_run_answers_every_caller(tmp_path: Path) -> None:
    answers, server = sigterm_while_batches_run(tmp_path, grace_seconds=60)
    assert sorted({status for status, _ in answers}) == ["200", "OK"], answers
    assert "Traceback" not in server.output


def test_sigterm_past_the_grace_answers_the_callers_left_with_a_clean_503(tmp_path: Path) -> None:
    """The grace ends with callers still queued: each gets a JSON 503 naming the cause (gRPC: UNAVAILABLE), none a
    reset or uvicorn's plain-text 500 with a traceback in the log."""
    answers, server = sigterm_while_batches_run(tmp_path, grace_seconds=0.2)
    assert {status for status, _ in answers} <= {"200", "OK", "503", "UNAVAILABLE"}, answers
    assert ("503", STOPPING) in answers, "the grace was long enough for every caller"
    assert all(message == STOPPING for status, message in answers if status == "503"), answers
    assert "Traceback" not in server.output


def test_a_corrupt_control_file_and_stray_files_leave_load_and_unload_working(tmp_path: Path) -> None:
    """Two workers. control.json garbled (before and after an unload) and files that are not a worker's in
    applied/: every answer stays right (unload: no worker serves the model; load: every worker does), readiness
    never breaks, and the next change writes control.json whole again."""
    repository, shared = tmp_path / "repository", tmp_path / "shared"
    publish_linear(repository, "a", 1, seed=1)
    publish_linear(repository, "b", 1, seed=2)
    env = {"MODEL_REPOSITORY": str(repository), "WORKERS": "2", "SHARED_DIR": str(shared)}
    server = RunningServer(env)

    def predict(name: str) -> int:  # a new connection each time: either worker
        return httpx.post(f"{server.url}/models/{name}/predict", json={"instances": [ROW]}, timeout=30).status_code

    try:
        (shared / "control.json").write_text('{"generation": 7, "unloaded": ["b"')
        applied = shared / "applied"
        for stray in ("notes.txt", "abc.json", "0.json", "-5.json", "999999999.json", ".1234.json.tmp"):
            (applied / stray).write_text('{"models": {"a": {"generation": 99, "version": 1}}}')
        (applied / "old").mkdir()
        time.sleep(0.5)  # the workers have looked at the control file several times
        assert [predict("b") for _ in range(6)] == [200] * 6  # the garbled file's half-written unload is not taken
        assert httpx.get(f"{server.url}/health/ready").status_code == 200

        assert httpx.post(f"{server.url}/v2/repository/models/a/unload").status_code == 200
        assert json.loads((shared / "control.json").read_text())["unloaded"] == ["a"]  # rewritten whole
        (shared / "control.json").write_text("\x00garbled")
        time.sleep(0.5)
        assert [predict("a") for _ in range(6)] == [503] * 6  # the last good state holds on both workers
        assert [predict("b") for _ in range(6)] == [200] * 6
        assert httpx.get(f"{server.url}/health/ready").status_code == 200

        assert httpx.post(f"{server.url}/v2/repository/models/a/load").status_code == 200
        assert [predict("a") for _ in range(6)] == [200] * 6
        index = {e["name"]: e["state"] for e in httpx.post(f"{server.url}/v2/repository/index").json()}
        assert index == {"a": "READY", "b": "READY"}
        assert "control.json" in server.output and "Traceback" not in server.output
    finally:
        assert server.stop() == 0

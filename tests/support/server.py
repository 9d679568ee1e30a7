"""A real `python -m service` process on a free loopback port, for integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DEMO_REPOSITORY = ROOT / "models"  # the shipped demo models, in git: a checkout without them is broken
DEMO_MODEL_FILE = DEMO_REPOSITORY / "digits" / "1" / "model.onnx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unprivileged() -> list[str]:
    """A command prefix that keeps file permissions binding even for root (CI runs as root, which reads anything):
    the server runs without the capabilities that override them (setpriv, from util-linux)."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


PORT_TAKEN = ("address already in use", "is already in use")  # uvicorn's bind, and GRPC_PORT's check


class RunningServer:
    def __init__(self, env: dict[str, str], wait_ready: bool = True, prefix: list[str] | None = None) -> None:
        # A free port can be taken by another test worker between our look and the server's bind: try new ones.
        for attempt in range(3):
            try:
                self._start(env, wait_ready, prefix)
                return
            except RuntimeError as exc:
                if attempt == 2 or "PORT" in env or not any(words in str(exc) for words in PORT_TAKEN):
                    raise

    def _start(self, env: dict[str, str], wait_ready: bool, prefix: list[str] | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Every server its own gRPC port: on a shared one (SO_REUSEPORT) two test servers would split the calls.
        self.grpc_port = int(env.get("GRPC_PORT") or free_port())
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        # One worker unless a test asks for more: most tests check one process's behaviour (queue limits, hot
        # swaps, drains); tests/integration/service/test_workers.py checks several, and the default (auto) too.
        full_env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "GRPC_PORT": str(self.grpc_port),
            "WORKERS": "1",
            **env,
        }
        self.process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "service"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Drain the output while the server runs: a full pipe would block the server's logging.
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self.wait_until("/health/live" if not wait_ready else "/health/ready")

    def wait_until(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{path} not 200 after {timeout}s:\n{self.output}")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        if self.process.poll() is not None:
            self._reader.join(5)
        return "".join(self.lines)


def serving(env: dict[str, str], wait_ready: bool = True, prefix: list[str] | None = None) -> Iterator[RunningServer]:
    """For fixtures: `yield from serving(env)` starts a server for the fixture's scope and stops it after."""
    running = RunningServer(env, wait_ready, prefix)
    try:
        yield running
    finally:
        running.stop()


def client_for(server: RunningServer, **options: object) -> Iterator[httpx.Client]:
    """For fixtures: `yield from client_for(server)`, an HTTP client on the server, closed after."""
    with httpx.Client(base_url=server.url, timeout=10, **options) as client:
        yield client


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: the parent's children started by multiprocessing's spawn."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if ppid == parent and b"spawn_main" in command:
            pids.append(int(stat.parent.name))
    return sorted(pids)

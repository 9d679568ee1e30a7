"""Servers under test as child processes: start, wait for ready (cold start), CPU time and RSS of the process tree."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree(pid: int) -> list[int]:
    """pid and all its descendants (uvicorn's supervisor and its workers)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                found += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of the live process tree (threads included), in seconds."""
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> dict[int, float]:
    """Resident memory of each process in the tree, in MB."""
    sizes = {}
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[member] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return sizes


def loads_tensorflow(pid: int) -> bool:
    """True when any process of the tree has a TensorFlow library mapped."""
    for member in tree(pid):
        try:
            if "tensorflow" in Path(f"/proc/{member}/maps").read_text():
                return True
        except OSError:
            continue
    return False


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    cpus: str | None = None  # taskset CPU list for the server, None = not pinned
    root: Path = ROOT  # the checkout it runs from (another commit's, for a baseline)
    protocols: tuple[str, ...] | None = None  # the protocols measured on it (None: every one it answers)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    cold_start_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        if self.cpus:
            command = ["taskset", "-c", self.cpus, *command]
        env = {**os.environ, "PYTHONPATH": str(self.root), **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        started = time.perf_counter()
        # A file, not a pipe: a pipe nobody reads fills up, and a server blocked writing its log answers nothing.
        self.log_path = ROOT / "bench" / "work" / "logs" / f"{self.name}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=1) as response:
                    if response.status == 200:
                        self.cold_start_s = time.perf_counter() - started
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.01)
        self.stop()
        raise TimeoutError(f"{self.name} not ready after {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


PYTHON = sys.executable

"""The replicas: separate `python -m service` processes (1 worker each), each at its own placement, sharing one model
repository. They drain as the Deployment does (SIGTERM, readiness 503 for SHUTDOWN_DELAY_SECONDS while still
serving, then the in-flight requests end) and are started again at the same address."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..processes import ROOT
from .network import Placement

PYTHON = sys.executable
# Above haproxy's worst detection time (deploy/haproxy/haproxy.cfg: inter 1 s + fastinter 0.5 s + timeout check 1 s).
SHUTDOWN_DELAY_SECONDS = 3.0
MODEL_POLL_SECONDS = 1.0  # the rollout case measures this bound: keep it short so that the phase is short
LOADED = re.compile(r"model (\S+) version (\d+) loaded in ([\d.]+)s")


class Replica:
    def __init__(self, placement: Placement, repository: Path, logs: Path) -> None:
        self.placement = placement
        self.repository = repository
        self.logs = logs
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def name(self) -> str:
        return self.placement.name

    @property
    def url(self) -> str:
        return f"http://{self.placement.http}"

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "HOST": self.placement.host,
            "PORT": str(self.placement.http_port),
            "GRPC_PORT": str(self.placement.grpc_port),
            "WORKERS": "1",
            "MODEL_REPOSITORY": str(self.repository),
            "MODEL_POLL_SECONDS": str(MODEL_POLL_SECONDS),
            "SHUTDOWN_DELAY_SECONDS": str(SHUTDOWN_DELAY_SECONDS),
            "SHUTDOWN_GRACE_SECONDS": "20",
            "LOG_FORMAT": "json",
        }
        log = (self.logs / f"{self.name}.{self.starts}.log").open("w")
        command = [*self.placement.prefix, PYTHON, "-m", "service"]
        # `ip netns exec` execs the command itself: the pid is the server's, signals go straight to it.
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_text()[-3000:]}")

    def drain(self, timeout: float = 60.0) -> int:
        """The Deployment's drain: SIGTERM, then wait for the process to end on its own."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a second signal skips the delay (service/lifecycle.py)
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def served_version(self, model: str) -> int | None:
        answer = httpx.get(f"{self.url}/models/{model}", timeout=5).json()
        return answer.get("version") if answer.get("state") == "ready" else None

    def model_error(self, model: str) -> str:
        return httpx.get(f"{self.url}/models/{model}", timeout=5).json().get("error") or ""

    def log_text(self) -> str:
        return "".join(path.read_text() for path in sorted(self.logs.glob(f"{self.name}.*.log")))

    def load_seconds(self, model: str, version: int) -> list[float]:
        """Load + warm-up time of every load of this version (from the server's log line)."""
        found = []
        for line in self.log_text().splitlines():
            try:
                message = json.loads(line).get("message", "")
            except ValueError:
                continue
            match = LOADED.search(message)
            if match and match.group(1) == model and int(match.group(2)) == version:
                found.append(float(match.group(3)))
        return found

    def pin(self, cpus: str) -> None:
        """Run on these CPUs only (taskset; every thread of the process)."""
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(self.process.pid)], check=True, capture_output=True)


def start_all(replicas: list[Replica]) -> None:
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.wait_ready()

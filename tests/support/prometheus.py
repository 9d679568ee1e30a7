"""A real Prometheus server (Debian's `prometheus`, installed by `make prometheus`) on a free loopback port,
scraping one service every second into a temporary TSDB, with its HTTP API at hand."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

import httpx
import yaml

from tests.support.server import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
JOB = "sigmoid-serve"  # the job name the alerting rules expect


class PrometheusError(RuntimeError):
    pass


class RunningPrometheus:
    def __init__(self, target_url: str, rule_files: Sequence[Path] = (), interval: str = "1s") -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="prometheus-"))
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(Path(f).resolve()) for f in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [urlparse(target_url).netloc]}]}],
        }
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (self.folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._client = httpx.Client(base_url=self.url, timeout=10)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}:\n{self.log}")
            try:
                if self._client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready after {timeout}s:\n{self.log}")

    def query(self, expression: str) -> list[dict]:
        """An instant query at the current time: [{"metric": {labels}, "value": [time, "text"]}, ...]."""
        answer = self._client.get("/api/v1/query", params={"query": expression}).json()
        if answer["status"] != "success":
            raise PrometheusError(f"{expression}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]["result"]

    def values(self, expression: str, by: str) -> dict[str, float]:
        """The query's result as {value of label `by`: number}."""
        return {sample["metric"].get(by, ""): float(sample["value"][1]) for sample in self.query(expression)}

    def value(self, expression: str) -> float | None:
        """The one number a query returns (None when it returns nothing)."""
        result = self.query(expression)
        if len(result) > 1:
            raise PrometheusError(f"{expression} returned {len(result)} series, expected one")
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, read: Callable[[], object], done: Callable[[object], bool], timeout: float = 20.0) -> object:
        """Poll `read()` until `done(value)` (scrapes and rule evaluations happen every second); the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.25)

    def wait_for_scrape(self, timeout: float = 20.0) -> None:
        """Until a scrape that started after this call has been stored."""
        since = time.time()
        last = self.wait_for(
            lambda: self.value(f'timestamp(up{{job="{JOB}"}} == 1)'), lambda t: (t or 0) > since, timeout
        )
        if (last or 0) <= since:
            raise PrometheusError(f"no successful scrape of {JOB} within {timeout}s:\n{self.log}")

    @property
    def log(self) -> str:
        self._log.flush()
        return (self.folder / "prometheus.log").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._client.close()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def prometheus_scraping(target_url: str, rule_files: Sequence[Path] = ()) -> Iterator[RunningPrometheus]:
    """For fixtures: `yield from prometheus_scraping(server.url)`, stopped (and its TSDB removed) after."""
    running = RunningPrometheus(target_url, rule_files)
    try:
        yield running
    finally:
        running.stop()

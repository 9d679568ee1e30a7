"""Debian's Prometheus scraping the replicas with the shipped configuration and alerting rules
(deploy/monitoring/prometheus.yml and sigmoid-serve.rules.yml): the same jobs and rules, with this run's targets and
a 1 s scrape and evaluation interval so that an alert shows within seconds."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from ..processes import ROOT, free_port

MONITORING = ROOT / "deploy" / "monitoring"
INTERVAL = "1s"


def prometheus_path() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        raise SystemExit("prometheus is not installed: `apt-get install -y prometheus` (make scale-test does it)")
    return found


class Monitor:
    def __init__(self, replica_targets: list[str], balancer_stats: str) -> None:
        config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
        config["global"] |= {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL, "scrape_timeout": INTERVAL}
        config["rule_files"] = [str(MONITORING / name) for name in config["rule_files"]]
        config["scrape_configs"][0]["static_configs"] = [{"targets": replica_targets}]  # the job the rules read
        config["scrape_configs"].append({"job_name": "haproxy", "static_configs": [{"targets": [balancer_stats]}]})
        self.folder = Path(tempfile.mkdtemp(prefix="scale-prometheus-"))
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self._log = (self.folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                prometheus_path(),
                f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_scraping(self, count: int, timeout: float = 60.0) -> None:
        """Until every replica has been scraped (up == 1 for `count` targets of the service's job)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{(self.folder / 'prometheus.log').read_text()[-3000:]}")
            try:
                # Until it is ready, Prometheus answers its API with a plain-text 503, not JSON.
                ready = self.client.get("/-/ready").status_code == 200
                if ready and self.value('count(up{job="sigmoid-serve"} == 1)') == count:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus did not scrape {count} replicas within {timeout}s")

    def query(self, expression: str) -> list[dict]:
        answer = self.client.get("/api/v1/query", params={"query": expression}).json()
        if answer["status"] != "success":
            raise RuntimeError(f"{expression}: {answer.get('error')}")
        return answer["data"]["result"]

    def value(self, expression: str) -> float | None:
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def firing(self, alert: str) -> list[dict[str, str]]:
        """Labels of each firing instance of `alert`."""
        alerts = self.client.get("/api/v1/alerts").json()["data"]["alerts"]
        return [a["labels"] for a in alerts if a["labels"]["alertname"] == alert and a["state"] == "firing"]

    def wait_firing(self, alert: str, labels: dict[str, str], timeout: float) -> float | None:
        """Seconds until `alert` fires with these labels, or None."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if any(labels.items() <= found.items() for found in self.firing(alert)):
                return time.monotonic() - started
            time.sleep(0.25)
        return None

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

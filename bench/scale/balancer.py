"""Debian's haproxy with the shipped deploy/haproxy/haproxy.cfg, unchanged: the replica addresses, the listening
ports and the algorithm go in through the environment variables the file reads. Its stats (retries, redispatches,
server states) come from the CSV of its stats page; its log (errors and retries only: dontlog-normal) is read as
it is written, each line stamped with the time it arrived."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from ..processes import ROOT, free_port
from .network import Placement

CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
BACKENDS = {"rest": "replicas_rest", "grpc": "replicas_grpc"}
STATE_CHANGE = re.compile(r"^Server (\w+)/(\w+) is (UP|DOWN)")
REQUEST_LINE = re.compile(
    r"^\S+ \[(?P<date>[^\]]+)\] \S+ (?P<backend>[\w-]+)/(?P<server>\S+) \S+ (?P<status>-?\d+) \S+ \S+ \S+ "
    r'(?P<term>\S{4}) \d+/\d+/\d+/\d+/(?P<retries>\+?\d+) \S+ "'
)


@dataclass(frozen=True)
class LoggedRequest:
    """A request haproxy logged: one that failed, or was retried or redispatched."""

    accepted: float  # epoch seconds
    backend: str
    server: str
    status: int
    termination: str
    retries: int
    redispatched: bool

    @property
    def failed(self) -> bool:
        """The client got an error from the balancer or a replica (not a client that went away: C... states)."""
        return (self.status >= 500 or self.status < 0) and not self.termination.startswith("C")


def haproxy_path() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(found).exists():
        raise SystemExit("haproxy is not installed: `apt-get install -y haproxy` (make scale-test does it)")
    return found


class Balancer:
    def __init__(self, placements: list[Placement], logs: Path, balance: str = "leastconn") -> None:
        self.http = f"127.0.0.1:{free_port()}"
        self.grpc = f"127.0.0.1:{free_port()}"
        self.stats_address = f"127.0.0.1:{free_port()}"
        env = {**os.environ, "BALANCE": balance, "BALANCER_HTTP": self.http, "BALANCER_GRPC": self.grpc}
        env["BALANCER_STATS"] = self.stats_address
        for index, placement in enumerate(placements, start=1):
            env[f"REPLICA{index}_HTTP"], env[f"REPLICA{index}_GRPC"] = placement.http, placement.grpc
        self.balance = balance
        self.lines: list[tuple[float, str]] = []
        self._log = (logs / f"haproxy-{balance}.log").open("a")
        self.process = subprocess.Popen(
            [haproxy_path(), "-W", "-db", "-f", str(CONFIG)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))
            self._log.write(line)
        self._log.close()

    def stats(self) -> list[dict[str, str]]:
        text = httpx.get(f"http://{self.stats_address}/stats;csv", timeout=5).text
        return list(csv.DictReader(io.StringIO(text.removeprefix("# "))))

    def states(self) -> dict[tuple[str, str], str]:
        rows = [r for r in self.stats() if r["svname"] not in ("FRONTEND", "BACKEND")]
        return {(r["pxname"], r["svname"]): r["status"] for r in rows}

    def counters(self) -> dict[str, dict[str, int]]:
        """Per protocol: retries, redispatches, and requests sent to each server (cumulative)."""
        rows = self.stats()
        found = {}
        for protocol, backend in BACKENDS.items():
            mine = [r for r in rows if r["pxname"] == backend]
            total = next(r for r in mine if r["svname"] == "BACKEND")
            found[protocol] = {"retries": int(total["wretr"] or 0), "redispatches": int(total["wredis"] or 0)}
            found[protocol] |= {r["svname"]: int(r["stot"] or 0) for r in mine if r["svname"] != "BACKEND"}
        return found

    def wait_all_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                states = self.states()
                if states and all(state == "UP" for state in states.values()):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"not every replica is UP in haproxy after {timeout}s: {self.states()}")

    def wait_state(self, server: str, state: str, timeout: float = 30.0) -> None:
        """Until `server` is in `state` in both backends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.states().get((backend, server)) == state for backend in BACKENDS.values()):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{server} is not {state} in haproxy after {timeout}s: {self.states()}")

    def state_changes(self, since: float) -> list[tuple[float, str, str, str]]:
        """(time, backend, server, UP/DOWN) from haproxy's log since `since` (epoch seconds)."""
        changes = []
        for stamp, line in list(self.lines):
            match = STATE_CHANGE.match(line)
            if stamp >= since and match:
                changes.append((stamp, *match.groups()))
        return changes

    def requests(self, since: float, until: float) -> list[LoggedRequest]:
        """The requests haproxy logged (failed, retried or redispatched) accepted between the two times."""
        found = []
        for _, line in list(self.lines):
            match = REQUEST_LINE.match(line)
            if not match:
                continue
            accepted = datetime.strptime(match["date"], "%d/%b/%Y:%H:%M:%S.%f").timestamp()
            if since <= accepted <= until:
                retries = match["retries"]
                found.append(
                    LoggedRequest(
                        accepted,
                        match["backend"],
                        match["server"],
                        int(match["status"]),
                        match["term"],
                        int(retries.lstrip("+")),
                        retries.startswith("+"),
                    )  # fmt: skip
                )
        return found

    def log_text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stop(self) -> None:
        """A soft stop (SIGUSR1 to the master: requests in flight end), then a hard one if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)

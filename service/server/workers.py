"""Running several workers: their shared folder, their listening sockets, and the gRPC port they share.

- The shared folder (SHARED_DIR): with WORKERS > 1 uvicorn runs the app in several processes. So that they answer as
  one server, they share a folder: Prometheus' multiprocess files (`metrics/`, every scrape sums all workers), and the
  repository control of `core/shared_control.py`: what the repository API asked for (`control.json`) and what each
  worker has applied (`applied/PID.json`, written once the worker has loaded the repository: readiness waits for all
  of them, so no request meets a worker that is still loading). The parent process makes the folder (a temporary one
  unless SHARED_DIR is set), clears what a previous run left there, and passes it to the workers through the
  environment; a temporary folder is removed when the server exits.
- Listening sockets: uvicorn's supervisor binds one socket in the parent and every worker accepts from it. Idle
  workers then race for each new connection, and one may take a whole burst: with 2 workers and 8 keep-alive
  connections, all 8 landed on one worker in 2 of 5 runs, so the second worker sat idle for the whole run. Here each
  worker binds the address itself with SO_REUSEPORT and the kernel assigns each connection to one of the sockets by a
  hash of its addresses and ports. The parent keeps no listening socket, so no connection can be queued where nobody
  accepts it; a worker that dies takes its socket with it, and uvicorn's supervisor (kept as it is: health checks,
  replacement, signals) starts a replacement that binds again.
- GRPC_PORT: each worker binds it with SO_REUSEPORT too (`grpc_server.py`). The same option would let this server and
  another one on the machine share the port silently, each getting some of the connections: a plain bind, made once
  by the parent process before the workers start, fails instead.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from uvicorn.config import Config
from uvicorn.supervisors import multiprocess

from ..core.shared_control import APPLIED_DIR, CONTROL_FILE, EVENTS_DIR, METRICS_DIR
from ..settings import Settings

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when a worker imports it


@contextmanager
def shared_folder(settings: Settings) -> Iterator[Path | None]:
    """For the server's lifetime: the workers' shared folder (None with one worker), exported to them."""
    if settings.workers == 1 and settings.shared_dir is None:
        yield None
        return
    made = settings.shared_dir is None
    try:
        folder = Path(tempfile.mkdtemp(prefix="sigmoid-serve-")) if made else settings.shared_dir
        metrics = folder / METRICS_DIR
        for left_over in (metrics, folder / APPLIED_DIR, folder / EVENTS_DIR):  # an earlier run's must not count
            shutil.rmtree(left_over, ignore_errors=True)
            left_over.mkdir(parents=True)
        (folder / CONTROL_FILE).unlink(missing_ok=True)
    except OSError as exc:
        raise SystemExit(
            f"WORKERS={settings.workers} needs a writable folder the workers share ({exc}); "
            "mount a tmpfs on /tmp, set SHARED_DIR to a writable folder, or set WORKERS=1"
        ) from None
    os.environ["SHARED_DIR"] = str(folder)
    os.environ[METRICS_ENV] = str(metrics)
    try:
        yield folder
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


def bind_reuseport(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class ReusePortWorker(multiprocess.Process):
    """A uvicorn worker that binds its own listening socket in its own process."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker process
        super().target([bind_reuseport(self.config.host, self.config.port)])


def run_workers(config: Config) -> None:
    """uvicorn's Multiprocess supervisor, with each worker's socket its own."""
    # The supervisor creates its workers by this module-level name (when starting, replacing and adding them).
    multiprocess.Process = ReusePortWorker  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[]).run()


def check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As every listener does (uvicorn's, gRPC's): connections a previous run closed, in TIME_WAIT for a minute,
        # do not hold the port; a socket listening on it still does (a restart in place must not fail).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(
                    f"GRPC_PORT {port} is already in use on {host}; choose another (0 = no gRPC)"
                ) from None
            raise

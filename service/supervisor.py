"""Several workers, each accepting on its own listening socket (SO_REUSEPORT), so the kernel spreads connections.

uvicorn's supervisor binds one socket in the parent and every worker accepts from it. Idle workers then race for
each new connection, and one may take a whole burst: with 2 workers and 8 keep-alive connections, all 8 landed on
one worker in 2 of 5 runs, so the second worker sat idle for the whole run. Here each worker binds the address
itself with SO_REUSEPORT and the kernel assigns each connection to one of the sockets by a hash of its addresses
and ports. The parent keeps no listening socket, so no connection can be queued where nobody accepts it; a worker
that dies takes its socket with it, and uvicorn's supervisor (kept as it is: health checks, replacement, signals)
starts a replacement that binds again.
"""

from __future__ import annotations

import socket

from uvicorn.config import Config
from uvicorn.supervisors import multiprocess


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

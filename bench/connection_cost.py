"""`python -m bench.connection_cost`: what accepted connections cost one worker, and what the one past the cap gets.

One worker (WORKERS=1, the process is the worker) with MAX_CONNECTIONS=N and long timeouts; its RSS with nothing
open, with N-1 idle connections, and with N-1 connections that have each sent an unfinished head just under
MAX_HEADER_BYTES (the most a connection can make the worker hold); then the answer to a request on one more.
"""

from __future__ import annotations

import argparse
import socket
import time

from .processes import PYTHON, ROOT, Server, rss_mb


def open_connections(port: int, count: int, head: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if head:
            sock.sendall(head)
        sockets.append(sock)
    time.sleep(1.0)  # let the worker read what was sent
    return sockets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000, help="MAX_CONNECTIONS of the worker (default 1000)")
    args = parser.parse_args()
    limit = args.connections
    env = {
        "MODEL_REPOSITORY": str(ROOT / "models"),
        "WORKERS": "1",
        "MAX_CONNECTIONS": str(limit),
        "HEADER_TIMEOUT_SECONDS": "600",
        "MAX_HEADER_BYTES": "32768",
    }
    with Server("connection-cost", [PYTHON, "-m", "service"], env) as server:
        pid = server.process.pid
        base = rss_mb(pid)[pid]
        print(f"worker RSS with no connection: {base:.1f} MB")
        partial_head = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * (32768 - 100)
        for label, head in (("idle", b""), ("each holding a 32 KB unfinished head", partial_head)):
            sockets = open_connections(server.port, limit - 1, head)
            grown = rss_mb(pid)[pid] - base
            print(f"{limit - 1} connections {label}: +{grown:.1f} MB ({grown * 1024 / (limit - 1):.1f} KB each)")
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra:
                extra.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                status_line = extra.recv(4096).partition(b"\r\n")[0].decode()
                print(f"a request on connection {limit}: {status_line}")
            for sock in sockets:
                sock.close()
            time.sleep(1.0)


if __name__ == "__main__":
    main()

"""Before the workers start: refuse a GRPC_PORT that something already listens on.

Each worker binds GRPC_PORT with SO_REUSEPORT (service/grpc_server.py), so that the kernel spreads connections over
them. The same option would let this server and another one on the machine share the port silently, each getting
some of the connections: a plain bind, made once by the parent process, fails instead. Standard library only: the
parent process does not load gRPC.
"""

from __future__ import annotations

import errno
import socket


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

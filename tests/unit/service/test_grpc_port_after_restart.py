"""A server restarted on the same address right after a drain starts: the connections its gRPC port closed are in
TIME_WAIT, which the GRPC_PORT check must not take for another server listening there (a restart in place, as
docker-compose, systemd or `make scale-test` do it, failed with "GRPC_PORT ... is already in use"). A port someone
listens on is still refused."""

from __future__ import annotations

import socket

import pytest

from service.server.workers import check_port_free


def closed_by_the_server_side() -> int:
    """A port whose listener is gone, with a connection it closed first (TIME_WAIT on the server's side)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC's own listener does
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end goes to TIME_WAIT
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_is_free() -> None:
    check_port_free("127.0.0.1", closed_by_the_server_side())


def test_a_port_someone_listens_on_is_refused() -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as another server's gRPC workers bind it
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(SystemExit, match="already in use"):
            check_port_free("127.0.0.1", other.getsockname()[1])

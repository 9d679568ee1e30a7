"""One write per response: the coalescing transport on a recording transport, then the real server."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator

import pytest

from service.server.http_protocol import WRITE_THROUGH_BYTES, CoalescingTransport
from tests.support.server import RunningServer, serving


class RecordingTransport:
    """Stands in for the socket transport: records what reaches it, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, chunks: list[bytes]) -> None:
        self.calls.append(("writelines", b"".join(chunks)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> str:  # as asyncio.BaseTransport takes it
        return f"info:{name}"


async def one_loop_step() -> None:
    await asyncio.sleep(0)


def in_loop(scenario) -> None:  # noqa: ANN001
    """Run `scenario(real, coalescing)` on an event loop, the coalescing transport wrapping a recording one."""

    async def main() -> None:
        real = RecordingTransport()
        await scenario(real, CoalescingTransport(real, asyncio.get_running_loop()))

    asyncio.run(main())


def test_writes_of_one_step_leave_together_after_the_step() -> None:
    async def scenario(real: RecordingTransport, transport: CoalescingTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b'{"ok":1}')
        assert real.calls == []  # nothing reaches the socket during the step
        await one_loop_step()
        assert real.calls == [("writelines", b'HTTP/1.1 200 OK\r\n\r\n{"ok":1}')]
        transport.write(b"next")
        await one_loop_step()
        assert real.calls[-1] == ("writelines", b"next")

    in_loop(scenario)


def test_a_large_chunk_goes_out_at_once_after_what_is_held() -> None:
    async def scenario(real: RecordingTransport, transport: CoalescingTransport) -> None:
        big = b"x" * WRITE_THROUGH_BYTES
        transport.write(big)
        assert real.calls == [("write", big)]
        transport.write(b"head")
        transport.write(big)
        assert real.calls[-1] == ("writelines", b"head" + big)
        await one_loop_step()
        assert len(real.calls) == 2  # the scheduled flush finds nothing left to send

    in_loop(scenario)


def test_close_sends_what_is_held_first_and_other_calls_reach_the_transport() -> None:
    async def scenario(real: RecordingTransport, transport: CoalescingTransport) -> None:
        transport.write(b"last words")
        transport.close()
        assert real.calls == [("writelines", b"last words"), ("close", b"")]
        await one_loop_step()
        assert len(real.calls) == 2
        assert transport.get_extra_info("peername") == "info:peername"
        assert transport.is_closing()

    in_loop(scenario)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": "models"})


def test_pipelined_requests_get_whole_responses_in_order(server: RunningServer) -> None:
    """Three requests in one packet: all answers come back complete and in order on the one connection."""
    request = (
        b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v2/models/digits HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3})", received) == [b"200", b"200", b"404"]
    assert received.index(b'"status"') < received.index(b'"name":"digits"') < received.index(b"404 Not Found")

"""uvicorn's httptools protocol, with each response written in one system call and every client bounded.

One write per response: uvicorn writes the status line and headers when the app sends `http.response.start`
and the body when it sends `http.response.body`: two `write()` calls, so two TCP segments and two wake-ups of
the client for one small response. `CoalescingTransport` holds what is written during one step of the event
loop and hands it to the socket at the end of that step, all at once. Measured on 2 cores with a bare ASGI
app: ~33k → ~40k req/s at 64 connections. Ordering is kept (writes are appended in order and flushed before
close). A write of a large chunk goes out at once with whatever is held, so a big response never waits and
uvicorn's flow control still sees the real write buffer.

Bounded clients: uvicorn by itself waits forever for a head or a body that does not come, and keeps every
byte of an unfinished head. `ServiceHttpProtocol` caps the head (MAX_HEADER_BYTES: 431), the time to receive
it (HEADER_TIMEOUT_SECONDS: 408, or a silent close when nothing was sent) and the pause between two pieces
of a body (BODY_CHUNK_TIMEOUT_SECONDS: 408). One sweep per worker checks every connection's deadline four
times a second, cheaper than a timer per request. uvicorn's own plain-text answers (a malformed request, its
connection limit, a request cancelled when the shutdown grace ends) become JSON `{"error": ...}` bodies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from functools import partial
from typing import Any

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from .settings import get_settings

log = logging.getLogger("service.connections")

WRITE_THROUGH_BYTES = 64 * 1024  # a chunk this large is not worth holding back


class CoalescingTransport:
    """Wraps an asyncio transport: writes made in one loop step leave in one `writelines` call."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            if len(data) >= WRITE_THROUGH_BYTES:
                self._transport.write(data)
                return
            self._held = [data]
            self._loop.call_soon(self.flush)
        else:
            self._held.append(data)
            if len(data) >= WRITE_THROUGH_BYTES:
                self.flush()

    def flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held or ()))

    def __getattr__(self, name: str) -> Any:  # everything else (extra info, reading, abort) is the transport's
        return getattr(self._transport, name)


SWEEP_SECONDS = 0.25  # how often deadlines are checked: a timeout fires up to this much late

# What a connection is waiting for from its client (None: nothing, e.g. while the app answers).
IDLE, HEAD, BODY = "a first request", "the rest of the request head", "the rest of the request body"


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def raw_error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole `connection: close` JSON error response, for when no ASGI request cycle exists to send it."""
    body = error_body(message)
    lines = [STATUS_LINE[status]]
    for name, value in default_headers:
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join([*lines, body])


async def send_error(send: ASGISendCallable, status: int, message: str, retry_after_seconds: int) -> None:
    body = error_body(message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_seconds).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class ConnectionSweep:
    """One per worker: every SWEEP_SECONDS, each connection whose deadline has passed is dealt with."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        self._loop = loop
        self._connections = connections
        loop.call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        now = self._loop.time()
        for connection in list(self._connections):
            deadline = getattr(connection, "deadline", None)
            if deadline is not None and now >= deadline:
                connection.deadline_passed(now)
        self._loop.call_later(SWEEP_SECONDS, self._sweep)


class ServiceHttpProtocol(HttpToolsProtocol):
    """`uvicorn.run(http=ServiceHttpProtocol, limit_concurrency=MAX_CONNECTIONS)`: see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head = settings.max_header_bytes
        self.head_timeout = settings.header_timeout_seconds
        self.body_timeout = settings.body_chunk_timeout_seconds
        self.waiting_for: str | None = IDLE
        self.deadline: float | None = None  # loop time by which the client must have sent what we wait for
        self.head_room: int | None = self.max_head  # bytes the current head may still take; None outside a head
        if getattr(self.server_state, "connection_sweep", None) is None:
            self.server_state.connection_sweep = ConnectionSweep(self.loop, self.connections)  # type: ignore[attr-defined]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self.deadline = self.loop.time() + self.head_timeout

    def data_received(self, data: bytes) -> None:
        while True:
            room = self.head_room
            if room is None or len(data) <= room:
                if room is not None:
                    self.head_room = room - len(data)
                super().data_received(data)
                return
            # More bytes than the head may still take: feed only those, then see whether the head ended in them.
            self.head_room = 0
            super().data_received(data[:room])
            if self.transport.is_closing():
                return
            if self.head_room == 0:
                self.refuse(431, f"the request head is larger than {self.max_head} bytes (MAX_HEADER_BYTES)")
                return
            data = data[room:]

    # Parser callbacks: they move the connection from one wait to the next.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.waiting_for is None:  # a later request on a kept-alive connection: its head's clock starts now
            self.deadline = self.loop.time() + self.head_timeout
        self.waiting_for = HEAD

    def on_headers_complete(self) -> None:
        self.head_room = None
        self.waiting_for = BODY
        self.deadline = self.loop.time() + self.body_timeout
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.deadline = self.loop.time() + self.body_timeout
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.waiting_for = self.deadline = None
        self.head_room = self.max_head
        super().on_message_complete()

    def deadline_passed(self, now: float) -> None:
        """Called by the sweep: the client has not sent in time what the connection waits for."""
        cycle = self.cycle
        answering = cycle is not None and not cycle.response_complete
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.waiting_for == IDLE:
            self.transport.close()  # nothing was sent: no request to answer
        elif self.waiting_for == HEAD and answering:
            self.deadline = now + self.head_timeout  # a pipelined head behind a request we still answer: our wait
        elif self.waiting_for == HEAD:
            self.refuse(408, f"the request head did not arrive within {self.head_timeout:g} s (HEADER_TIMEOUT_SECONDS)")
        elif self.waiting_for == BODY and answering and cycle is not None:
            if self.flow.read_paused or cycle.waiting_for_100_continue:
                self.deadline = now + self.body_timeout  # we are not reading yet: the client is not late
                return
            message = f"the request body paused for more than {self.body_timeout:g} s (BODY_CHUNK_TIMEOUT_SECONDS)"
            self.refuse(408, message)
            cycle.disconnected = True  # the app, waiting for the body, learns that the client is gone
            cycle.message_event.set()
        else:  # the app has answered without reading the whole body, which has stopped coming
            self.transport.close()

    def refuse(self, status: int, message: str) -> None:
        """Log, answer with a JSON error unless a response is under way, and close the connection."""
        self.deadline = None
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("%s: %d, %s", peer, status, message)
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            self.transport.write(raw_error_response(status, message, self.server_state.default_headers))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:  # uvicorn calls it inside its `except HttpParserError`
        self.refuse(400, f"invalid HTTP request: {sys.exc_info()[1] or msg}")

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        if app is service_unavailable:  # uvicorn's plain-text answer past limit_concurrency (MAX_CONNECTIONS)
            app = self._too_many_connections
        super()._start_asgi_task(cycle, partial(self._run_app, cycle, app))  # type: ignore[arg-type]

    async def _run_app(
        self,
        cycle: RequestResponseCycle,
        app: ASGI3Application,
        scope: Scope,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        try:
            await app(scope, receive, send)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            # uvicorn cancels what still runs when SHUTDOWN_GRACE_SECONDS is over; let through, that is a plain-text
            # 500 and a traceback in the log. The client gets a 503 it can retry elsewhere instead.
            if cycle.response_started or cycle.disconnected:
                raise
            log.warning(
                "%s %s: unfinished at the end of the shutdown grace, answered 503", scope["method"], scope["path"]
            )
            await send_error(send, 503, "the server stopped before this request was finished; retry", 1)

    async def _too_many_connections(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        limit = self.config.limit_concurrency
        message = f"this worker is at its limit of {limit} connections or requests (MAX_CONNECTIONS); retry"
        log.warning("%s %s: 503, %s", scope["method"], scope["path"], message)
        await send_error(send, 503, message, 1)

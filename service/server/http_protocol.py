"""uvicorn's httptools protocol, with each response written in one system call and every client bounded.

One write per response: uvicorn writes the status line and headers when the app sends `http.response.start` and the
body when it sends `http.response.body`: two `write()` calls, so two TCP segments and two wake-ups of the client for
one small response. `CoalescingTransport` holds what is written during one step of the event loop and hands it to
the socket at the end of that step, all at once (measured: docs/performance/method.md). Ordering is kept (writes are
appended in order and flushed before close). A write of a large chunk goes out at once with whatever is held, so a
big response never waits and uvicorn's flow control still sees the real write buffer.

Bounded clients: uvicorn by itself waits forever for a head or a body that does not come, and keeps every
byte of an unfinished head. `ServiceHttpProtocol` caps the head (MAX_HEADER_BYTES: 431), the time to receive
it (HEADER_TIMEOUT_SECONDS: 408, or a silent close when nothing was sent) and the pause between two pieces
of a body (BODY_CHUNK_TIMEOUT_SECONDS: 408). One sweep per worker looks at every connection four times a
second. At shutdown an upload still waiting for its body is cut (JSON 503) just before SHUTDOWN_GRACE_SECONDS
ends, when uvicorn would cancel it into a plain-text 500 and a traceback. uvicorn's own plain-text answers (a
malformed request, its connection limit) become JSON `{"error": ...}` bodies.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from ..http.request_deadline import CANCELS_ON_DISCONNECT, CLIENT_GONE, HANDLER_TASK
from ..protocols.errors import error_body

log = logging.getLogger("service.connections")

WRITE_THROUGH_BYTES = 64 * 1024  # a chunk this large is not worth holding back
SWEEP_SECONDS = 0.25  # how often waits are checked (and the coarse clock moves): limits fire within this much
STOP_MARGIN_SECONDS = 0.5  # a stalled upload is cut this long before uvicorn cancels what still runs at shutdown

# What a connection waits for from its client; None: nothing (the app is answering, or the connection is idle
# between requests, which uvicorn's keep-alive timeout bounds).
IDLE, HEAD, BODY = "a first request", "the rest of the request head", "the rest of the request body"


def raw_error_response(
    status: int, message: str, default_headers: list[tuple[bytes, bytes]], retry_after_seconds: int = 0
) -> bytes:
    """A whole `connection: close` JSON error response, written straight to the socket."""
    body = error_body(message)
    lines = [STATUS_LINE[status]]
    for name, value in default_headers:
        lines += [name, b": ", value, b"\r\n"]
    if retry_after_seconds:
        lines.append(b"retry-after: %d\r\n" % retry_after_seconds)
    lines.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join([*lines, body])


async def too_many_connections(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """uvicorn's answer past limit_concurrency (MAX_CONNECTIONS), as JSON."""
    message = "this worker is at its limit of connections or requests in flight (MAX_CONNECTIONS); retry"
    log.warning("%s %s: 503, %s", scope["method"], scope["path"], message)
    body = error_body(message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class ConnectionSweep:
    """One per worker: a coarse clock, and every SWEEP_SECONDS a look at what each connection has waited for."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        self._loop = loop
        self._connections = connections
        self.now = loop.time()
        loop.call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        self.now = now = self._loop.time()
        for connection in list(self._connections):
            waiting = getattr(connection, "waiting_for", None)
            if waiting is not None and now - connection.since >= connection.patience(waiting):
                connection.wait_is_over(now)
        self._loop.call_later(SWEEP_SECONDS, self._sweep)


@dataclass(frozen=True)
class ClientLimits:
    """MAX_HEADER_BYTES, HEADER_TIMEOUT_SECONDS and BODY_CHUNK_TIMEOUT_SECONDS."""

    max_header_bytes: int = 32 * 1024
    header_timeout_seconds: float = 10.0
    body_chunk_timeout_seconds: float = 10.0


DEFAULT_LIMITS = ClientLimits()


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

    # The rest is the transport's, delegated by name: a __getattr__ would route every attribute look-up on this
    # object, its own included, through Python's slow path for classes that define one.
    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class ServiceHttpProtocol(HttpToolsProtocol):
    """`uvicorn.Config(http=functools.partial(ServiceHttpProtocol, limits=...), limit_concurrency=MAX_CONNECTIONS)`:
    see the module docstring.

    Per request it only counts head bytes and notes when bytes came, from the sweep's coarse clock rather than a
    timer per request: about 9k more instructions than uvicorn's protocol (callgrind, a bare app: 141k -> 150k),
    about 1-2% of the CPU of a small request to the service.
    """

    def __init__(self, *args: Any, limits: ClientLimits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head = limits.max_header_bytes
        self.head_timeout = limits.header_timeout_seconds
        self.body_timeout = limits.body_chunk_timeout_seconds
        self.stopping_at: float | None = None  # at shutdown: when a stalled upload is given up
        self.waiting_for: str | None = IDLE
        self.head_room: int | None = self.max_head  # bytes the current head may still take; None outside a head
        sweep = getattr(self.server_state, "connection_sweep", None)
        if sweep is None:
            sweep = self.server_state.connection_sweep = ConnectionSweep(self.loop, self.connections)  # type: ignore[attr-defined]
        self.clock: ConnectionSweep = sweep
        self.since = sweep.now  # when the current wait began (a head), or the last bytes came (a body)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        waiting = self.waiting_for
        if waiting is BODY:
            self.since = self.clock.now
        elif waiting is None:  # the next request on a kept-alive connection: its head's clock starts now
            self.waiting_for, self.since = HEAD, self.clock.now
        elif waiting is IDLE:  # the first request: its head's clock started with the connection
            self.waiting_for = HEAD
        while True:
            room = self.head_room
            if room is None or len(data) <= room:
                if room is not None:
                    self.head_room = room - len(data)
                HttpToolsProtocol.data_received(self, data)
                return
            # More bytes than the head may still take: feed only those, then see whether the head ended in them.
            self.head_room = 0
            HttpToolsProtocol.data_received(self, data[:room])
            if self.transport.is_closing():
                return
            if self.head_room == 0:
                self.refuse(431, f"the request head is larger than {self.max_head} bytes (MAX_HEADER_BYTES)")
                return
            data = data[room:]

    def on_headers_complete(self) -> None:
        self.head_room = None
        self.waiting_for, self.since = BODY, self.clock.now
        HttpToolsProtocol.on_headers_complete(self)
        if self.cycle is not None:  # None when uvicorn answered the request itself (its connection limit)
            self.cycle.scope[CANCELS_ON_DISCONNECT] = True

    def connection_lost(self, exc: Exception | None) -> None:
        # The request's handler stops at once when its client has gone before the response started
        # (http/request_deadline.py): rows nobody will read are never run.
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            task = cycle.scope.get(HANDLER_TASK)
            if task is not None and not task.done():
                cycle.scope[CLIENT_GONE] = True
                task.cancel()
        super().connection_lost(exc)

    def on_message_complete(self) -> None:
        self.waiting_for = None
        self.head_room = self.max_head
        HttpToolsProtocol.on_message_complete(self)

    def patience(self, waiting: str) -> float:
        limit = self.body_timeout if waiting is BODY else self.head_timeout
        return limit if self.stopping_at is None else min(limit, self.stopping_at - self.since)

    def wait_is_over(self, now: float) -> None:
        """Called by the sweep: the client has not sent in time what the connection waits for."""
        waiting, cycle = self.waiting_for, self.cycle
        answering = cycle is not None and not cycle.response_complete
        if self.transport.is_closing():
            self.waiting_for = None
        elif waiting is IDLE:
            self.waiting_for = None
            self.transport.close()  # nothing was sent: no request to answer
        elif waiting is HEAD and answering:
            self.since = now  # a pipelined head behind a request we still answer: the wait is ours, not theirs
        elif waiting is HEAD:
            self.refuse(408, f"the request head did not arrive within {self.head_timeout:g} s (HEADER_TIMEOUT_SECONDS)")
        elif not answering or cycle is None:  # the app answered without reading the whole body, which stopped
            self.waiting_for = None
            self.transport.close()
        elif self.stopping_at is not None and now >= self.stopping_at:
            self.give_up(cycle, 503, "the server is stopping and the request body did not arrive in time; retry")
        elif self.flow.read_paused or cycle.waiting_for_100_continue:
            self.since = now  # we are not reading yet: the client is not late
        else:
            message = f"the request body paused for more than {self.body_timeout:g} s (BODY_CHUNK_TIMEOUT_SECONDS)"
            self.give_up(cycle, 408, message)

    def give_up(self, cycle: RequestResponseCycle, status: int, message: str) -> None:
        """Answer a request still waiting for its body, and tell its handler that the client has gone."""
        self.refuse(status, message, retry_after_seconds=1 if status == 503 else 0)
        cycle.disconnected = True
        cycle.message_event.set()

    def refuse(self, status: int, message: str, retry_after_seconds: int = 0) -> None:
        """Log, answer with a JSON error unless a response is under way, and close the connection."""
        self.waiting_for = None
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("%s: %d, %s", peer, status, message)
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            headers = self.server_state.default_headers
            self.transport.write(raw_error_response(status, message, headers, retry_after_seconds))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:  # uvicorn calls it inside its `except HttpParserError`
        self.refuse(400, f"invalid HTTP request: {sys.exc_info()[1] or msg}")

    def shutdown(self) -> None:
        """uvicorn stops: it waits SHUTDOWN_GRACE_SECONDS for running requests, then cancels them, which answers a
        plain-text 500 and logs a traceback. An upload still waiting for its body is cut just before that, with
        a JSON 503, so that a stalled client never holds the stop past the grace nor meets that 500."""
        grace = self.config.timeout_graceful_shutdown
        if grace is not None and self.waiting_for is BODY:
            self.stopping_at = self.loop.time() + max(0.0, grace - STOP_MARGIN_SECONDS)
            if grace <= STOP_MARGIN_SECONDS and self.cycle is not None and not self.cycle.response_complete:
                self.give_up(self.cycle, 503, "the server is stopping and the request body did not arrive; retry")
        super().shutdown()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        super()._start_asgi_task(cycle, too_many_connections if app is service_unavailable else app)

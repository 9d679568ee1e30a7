"""uvicorn's httptools protocol, with each response written in one system call (`write_coalescing.py`) and every
client bounded.

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
from .write_coalescing import CoalescingTransport

log = logging.getLogger("service.connections")

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

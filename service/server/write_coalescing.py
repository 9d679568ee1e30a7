"""One write per response: what is written to a connection during one step of the event loop leaves in one call.

uvicorn writes the status line and headers when the app sends `http.response.start` and the body when it sends
`http.response.body`: two `write()` calls, so two TCP segments and two wake-ups of the client for one small
response. `CoalescingTransport` holds what is written during one step of the event loop and hands it to the socket
at the end of that step, all at once (measured: docs/performance/method.md). Ordering is kept (writes are appended
in order and flushed before close). A write of a large chunk goes out at once with whatever is held, so a big
response never waits and uvicorn's flow control still sees the real write buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any

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

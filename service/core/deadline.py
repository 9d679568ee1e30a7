"""Per-request deadlines: when a request must have its result, from REQUEST_TIMEOUT_MS and the client's header.

The HTTP layer records, as soon as a request arrives, its arrival time and the raw `X-Request-Timeout-Ms`
header (`request_started`); the core turns them into an absolute deadline here, so every protocol gets the same
rule without knowing about it. The client may only shorten the server's limit, never extend it.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar, Token

from .errors import InvalidInput

TIMEOUT_HEADER = "X-Request-Timeout-Ms"

# (arrival time on the monotonic clock, raw header value or None) of the request being handled.
_arrival: ContextVar[tuple[float, str | None] | None] = ContextVar("request_arrival", default=None)


def request_started(header_value: str | None) -> Token:
    return _arrival.set((time.monotonic(), header_value))


def request_finished(token: Token) -> None:
    _arrival.reset(token)


def request_deadline(limit_ms: float, requested_ms: float | None = None) -> tuple[float, float] | None:
    """(deadline on the monotonic clock, timeout in ms) for the current request; None when it has none.

    `limit_ms` is REQUEST_TIMEOUT_MS (0 = no limit); `requested_ms` a timeout the protocol itself carries.
    """
    arrival = _arrival.get()
    started, header = arrival if arrival else (time.monotonic(), None)
    candidates = [ms for ms in (limit_ms or None, _parse(header), requested_ms) if ms is not None]
    if not candidates:
        return None
    timeout_ms = min(candidates)
    return started + timeout_ms / 1000.0, timeout_ms


def _parse(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"header {TIMEOUT_HEADER} must be a positive number of milliseconds, got {header!r}")
    return value

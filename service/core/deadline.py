"""When a request must have its result: the server's limit and the client's own, counted from the request's arrival.

Protocols hand in what they carry (an HTTP header, a gRPC deadline) as a number of milliseconds; the client may
only shorten the server's limit, never extend it.
"""

from __future__ import annotations

import time
from typing import NamedTuple


class Deadline(NamedTuple):  # a tuple: made for every request, at a fraction of a frozen dataclass's cost
    at: float  # on the monotonic clock
    timeout_ms: float  # what the request was given, for the message when it is missed

    def remaining(self) -> float:
        return self.at - time.monotonic()


def request_deadline(arrived_at: float, server_limit_ms: float, client_ms: float | None) -> Deadline | None:
    """The tighter of the server's limit (0 = none) and the client's; None when neither sets one."""
    if client_ms is None or (server_limit_ms and server_limit_ms < client_ms):
        if not server_limit_ms:
            return None
        timeout_ms = server_limit_ms
    else:
        timeout_ms = client_ms
    return Deadline(arrived_at + timeout_ms / 1000.0, timeout_ms)

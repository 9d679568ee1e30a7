"""What the property-based input tests share: their hypothesis settings, raw HTTP exchanges, and the one judgement
every answer gets (never a 5xx; a 4xx is JSON with an `error` string; the server still alive after).

Raw sockets rather than an HTTP client library: a library normalises what it sends (percent-encoding, header
names and values, Content-Length), and these tests must send exactly the bytes hypothesis made.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from tests.support.server import RunningServer

DIGITS_ROW = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0] * 8  # the demo model `digits` takes 64 numbers


def fuzz_settings(examples: int) -> settings:
    """The same examples on every run (derandomize), nothing remembered between runs, no per-example deadline: the
    server runs on a shared 2-core machine."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Any JSON document: what a client can put in a body, a field or a tensor's data.
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(server: RunningServer, request: bytes, timeout: float = 20.0) -> Answer | None:
    """Send `request` as it is on a new connection and read the one answer (None: closed without one)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        # The server may answer (413, 431) and close before reading everything: then read that answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> Answer | None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    if b"\r\n\r\n" not in data:
        assert not data, f"a partial answer: {data!r}"
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the answer stopped after {len(body)} of {length} body bytes"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body[:length])


def http_request(method: str, target: bytes, headers: list[tuple[bytes, bytes]] = (), body: bytes = b"") -> bytes:
    """One HTTP/1.1 request, exactly these bytes; Content-Length is added unless `headers` has one."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body and not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_clean(
    answer: Answer | httpx.Response | None, what: object = "", allow: Callable[[int], bool] | None = None
) -> None:
    """A 2xx, or a 4xx whose body is JSON with an `error` string; never a 5xx (unless `allow` accepts the status,
    for the few a client can legitimately earn, such as 504 for a deadline it set itself)."""
    assert answer is not None, f"connection closed without an answer: {what!r}"
    status = answer.status if isinstance(answer, Answer) else answer.status_code
    body = answer.body if isinstance(answer, Answer) else answer.content
    event(f"status {status}")  # pytest --hypothesis-show-statistics: how often the generated input was valid
    assert status < 500 or (allow is not None and allow(status)), f"{status} {body[:300]!r} for {what!r}"
    if status >= 400:
        assert answer.headers.get("content-type", "").startswith("application/json"), (status, answer.headers, what)
        document = json.loads(body)
        assert isinstance(document, dict) and isinstance(document.get("error"), str) and document["error"], document


def assert_still_serving(server: RunningServer, printed_before: int) -> None:
    """The process is up, /health/live answers 200, and nothing unexpected reached the log meanwhile."""
    assert server.process.poll() is None, server.output
    assert httpx.get(f"{server.url}/health/live", timeout=10).status_code == 200
    logged = "".join(server.lines[printed_before:])
    assert "Traceback" not in logged and "unexpected error" not in logged, logged[-3000:]

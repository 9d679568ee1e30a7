"""Slow and huge clients are bounded: raw sockets against a real server, doing what no HTTP library would.

Each limit answers with a JSON `{"error": ...}` naming its setting (or closes a connection that sent nothing), the
worker's memory stays bounded, the server stays healthy, and nothing is logged as a traceback. The limits are set
low here (1 s, 16 KB) so that the tests run quickly; the defaults are in the docs (serving/security.md).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer, serving

MAX_HEADER_BYTES = 16 * 1024
LIMITS = {"HEADER_TIMEOUT_SECONDS": "1", "BODY_CHUNK_TIMEOUT_SECONDS": "1", "MAX_HEADER_BYTES": str(MAX_HEADER_BYTES)}
PREDICT = "/models/linear/predict"
ROW = [0.1, 0.2, 0.3, 0.4]
PIECE = 64 * 1024


@pytest.fixture(scope="module")
def limited(repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(repository), **LIMITS})


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=15)


def post_head(content_length: int, extra: str = "") -> bytes:
    return (
        f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n{extra}\r\n"
    ).encode()


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def status_and_error(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), response[:500]
    return int(head.split()[1]), json.loads(body)["error"]


def answered(sock: socket.socket) -> bool:
    """Whether the server has written something (or closed) on this connection, without waiting."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.settimeout(timeout)


def send_until_answered(sock: socket.socket, start: bytes, total: int) -> int:
    """Send `start` then filler header bytes in pieces, up to `total`, stopping once the server answers."""
    sock.sendall(start)
    sent = len(start)
    filler = b"a" * PIECE
    while sent < total and not answered(sock):
        try:
            sock.sendall(filler)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(filler)
    return sent


def assert_healthy(server: RunningServer, printed_before: int) -> None:
    assert httpx.post(server.url + PREDICT, json={"instances": [ROW]}, timeout=10).status_code == 200
    time.sleep(0.3)  # let the server finish logging
    logged = "".join(server.lines[printed_before:])
    assert "Traceback" not in logged and "Exception in ASGI" not in logged, logged


def test_a_body_shorter_than_its_content_length_gets_408(limited: RunningServer) -> None:
    printed = len(limited.lines)
    with connect(limited) as sock:
        sock.sendall(post_head(100) + b'{"instances"')  # 12 of the 100 bytes, then nothing
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408 and "BODY_CHUNK_TIMEOUT_SECONDS" in error
    assert_healthy(limited, printed)


def test_a_body_that_stops_halfway_through_its_chunks_gets_408(limited: RunningServer) -> None:
    with connect(limited) as sock:
        sock.sendall(post_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked") + b'5\r\n{"ins\r\n')
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408 and "BODY_CHUNK_TIMEOUT_SECONDS" in error


def test_a_slow_body_that_keeps_coming_is_served(limited: RunningServer) -> None:
    """The limit is on the pause between pieces, not on the whole body: a slow client is not a stalled one."""
    body = json.dumps({"instances": [ROW]}).encode()
    with connect(limited) as sock:
        sock.sendall(post_head(len(body)))
        for i in range(0, len(body), 8):
            sock.sendall(body[i : i + 8])
            time.sleep(0.3)  # about 2 s in all, twice BODY_CHUNK_TIMEOUT_SECONDS
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_unfinished_headers_get_408(limited: RunningServer) -> None:
    printed = len(limited.lines)
    with connect(limited) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408 and "HEADER_TIMEOUT_SECONDS" in error
    assert_healthy(limited, printed)


def test_headers_sent_a_byte_at_a_time_are_cut_off(limited: RunningServer) -> None:
    """The head timeout counts from the request's first byte: trickling bytes does not extend it."""
    head = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    with connect(limited) as sock:
        for byte in head:
            if answered(sock):
                break
            sock.sendall(bytes([byte]))
            time.sleep(0.05)  # 5 s for the whole head
        status, error = status_and_error(read_until_closed(sock))
    assert status == 408 and "HEADER_TIMEOUT_SECONDS" in error


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(limited: RunningServer) -> None:
    with connect(limited) as sock:
        assert read_until_closed(sock) == b""


def test_a_kept_alive_connection_serves_requests_past_the_head_timeout(limited: RunningServer) -> None:
    """The head clock restarts with each request: a connection is not timed out for being old."""
    body = json.dumps({"instances": [ROW]}).encode()
    with connect(limited) as sock:
        for _ in range(3):
            sock.sendall(post_head(len(body)) + body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(0.6)  # 1.8 s in all, past HEADER_TIMEOUT_SECONDS, within uvicorn's keep-alive of 5 s


def test_a_20_mb_header_gets_431_early(limited: RunningServer) -> None:
    printed = len(limited.lines)
    with connect(limited) as sock:
        sent = send_until_answered(sock, b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ", 20 * 1024 * 1024)
        status, error = status_and_error(read_until_closed(sock))
    assert status == 431 and "MAX_HEADER_BYTES" in error
    assert sent < 5 * 1024 * 1024  # refused long before the client was done
    assert_healthy(limited, printed)


def test_a_head_just_under_the_limit_is_served(limited: RunningServer) -> None:
    filler = "a" * (MAX_HEADER_BYTES - 200)
    response = httpx.get(limited.url + "/health/live", headers={"x-filler": filler}, timeout=10)
    assert response.status_code == 200


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024


def test_four_unfinished_100_mb_headers_leave_the_worker_small(limited: RunningServer) -> None:
    """Before the limit, four of these took a worker from 115 to 375 MB. (One worker: the process is the worker.)"""
    rss_before = rss_bytes(limited.process.pid)
    sent: list[int] = []

    def flood() -> None:
        with connect(limited) as sock:
            sent.append(send_until_answered(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ", 100 * 1024 * 1024))
            read_until_closed(sock)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    growth = rss_bytes(limited.process.pid) - rss_before
    assert growth < 20 * 1024 * 1024, f"worker grew by {growth / 2**20:.1f} MB"
    assert len(sent) == 4 and max(sent) < 10 * 1024 * 1024, sent


BAD_REQUESTS = {
    "non-numeric Content-Length": post_head(0).replace(b"Content-Length: 0", b"Content-Length: abc"),
    "5000-digit Content-Length": post_head(0).replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 5000),
    "control character in a header": b"GET /health/live HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
    "Content-Length and chunked": post_head(5, "Transfer-Encoding: chunked\r\n"),
    "not HTTP": b"HELLO THERE\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_malformed_http_gets_a_json_400(limited: RunningServer, request_bytes: bytes) -> None:
    with connect(limited) as sock:
        sock.sendall(request_bytes)
        status, error = status_and_error(read_until_closed(sock))
    assert status == 400 and error.startswith("invalid HTTP request: ")


def test_past_max_connections_requests_get_a_json_503(repository: Path) -> None:
    """uvicorn's limit_concurrency counts open connections (this one included) and requests in flight."""
    env = {"MODEL_REPOSITORY": str(repository), "MAX_CONNECTIONS": "4", "HEADER_TIMEOUT_SECONDS": "60"}
    with_cap = RunningServer(env)
    try:
        idle = [connect(with_cap) for _ in range(3)]
        with connect(with_cap) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            response = read_until_closed(sock)
        status, error = status_and_error(response)
        assert status == 503 and "MAX_CONNECTIONS" in error
        assert b"retry-after: 1" in response.lower()
        for sock in idle:
            sock.close()
        time.sleep(0.3)
        assert httpx.get(with_cap.url + "/health/live", timeout=10).status_code == 200
    finally:
        with_cap.stop()


def stalled_upload(server: RunningServer) -> socket.socket:
    """A request whose handler is waiting for a body that stops after 12 of 100 bytes."""
    sock = connect(server)
    sock.sendall(post_head(100, "Expect: 100-continue\r\n"))
    assert sock.recv(65536).startswith(b"HTTP/1.1 100")  # the handler is reading the body: the request is in
    sock.sendall(b'{"instances"')
    return sock


@pytest.mark.parametrize("grace", ["2", "0"])
def test_sigterm_with_a_stalled_upload_answers_503_at_the_end_of_the_grace(repository: Path, grace: str) -> None:
    """The grace ends before the body timeout: the request is cut with a JSON 503, the exit is clean."""
    env = {"MODEL_REPOSITORY": str(repository), "SHUTDOWN_GRACE_SECONDS": grace, "BODY_CHUNK_TIMEOUT_SECONDS": "600"}
    server = RunningServer(env)
    try:
        with stalled_upload(server) as sock:
            server.process.send_signal(signal.SIGTERM)
            status, error = status_and_error(read_until_closed(sock))
        assert status == 503 and "stopping" in error
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert "Traceback" not in server.output and "Exception in ASGI" not in server.output, server.output


def test_sigterm_with_a_stalled_upload_does_not_wait_for_the_whole_grace(repository: Path) -> None:
    """The body timeout ends before the grace: the stalled client gets its 408 and the server exits then."""
    env = {"MODEL_REPOSITORY": str(repository), "SHUTDOWN_GRACE_SECONDS": "600", "BODY_CHUNK_TIMEOUT_SECONDS": "1"}
    server = RunningServer(env)
    try:
        with stalled_upload(server) as sock:
            server.process.send_signal(signal.SIGTERM)
            status, error = status_and_error(read_until_closed(sock))
        assert status == 408 and "BODY_CHUNK_TIMEOUT_SECONDS" in error
        assert server.process.wait(timeout=60) == 0  # far inside the grace of 600 s
    finally:
        server.stop()
    assert "Traceback" not in server.output and "Exception in ASGI" not in server.output, server.output

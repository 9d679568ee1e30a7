"""Hostile bodies and hostile clients: every one gets a 4xx naming the problem, and the server stays healthy.

Adds to tests/integration/service/test_native_api.py (which has malformed JSON, NaN, strings, 1e300, 5000-deep
nesting, form content type, an oversized body) without repeating it.
"""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import RunningServer

ROW = [0.1, 0.2, 0.3, 0.4]
PREDICT = "/models/linear/predict"
JSON = {"content-type": "application/json"}


def nested(depth: int, leaf: bytes = b"0") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


DEEP_OBJECTS = b'{"instances": [[0,0,0,0]], "threshold": ' + b'{"a":' * 500 + b"0" + b"}" * 501
PAST_INT64 = b'{"instances": [{"numbers": [1,2,3], "tokens": [1e30,0,0,0,0]}]}'
MULTIPART = {"content-type": "multipart/form-data; boundary=x"}
ZERO_ROW = b'{"instances": [[0,0,0,0]]}'

HOSTILE = [
    # (id, path, body, headers, status, words the error must contain)
    ("arrays 500 deep", PREDICT, b'{"instances": ' + nested(500) + b"}", JSON, 400, "rectangular"),
    ("objects 500 deep", PREDICT, DEEP_OBJECTS, JSON, 400, "threshold"),
    ("million zeros", PREDICT, b'{"instances": [[' + b"0," * 10**6 + b"0]]}", JSON, 413, "MAX_BODY_BYTES"),
    ("numeric strings", PREDICT, b'{"instances": [["1", "2", "3", "4"]]}', JSON, 400, "must hold numbers"),
    ("one string among numbers", PREDICT, b'{"instances": [[1, 2, "3", 4]]}', JSON, 400, "must hold numbers"),
    ("null among numbers", PREDICT, b'{"instances": [[1, 2, null, 4]]}', JSON, 400, "must hold numbers"),
    ("object where a row belongs", PREDICT, b'{"instances": [{"x": 1}]}', JSON, 400, "features"),
    ("1e400", PREDICT, b'{"instances": [[1e400, 0, 0, 0]]}', JSON, 400, "not valid JSON"),
    ("400-digit integer", PREDICT, b'{"instances": [[' + b"9" * 400 + b', 0, 0, 0]]}', JSON, 400, ""),
    ("1e39 overflows float32", PREDICT, b'{"instances": [[1e39, 0, 0, 0]]}', JSON, 400, "too large"),
    ("integer past int64", "/models/pair/predict", PAST_INT64, JSON, 400, "int64"),
    ("Infinity literal", PREDICT, b'{"instances": [[Infinity, 0, 0, 0]]}', JSON, 400, "not valid JSON"),
    ("-Infinity literal", PREDICT, b'{"instances": [[-Infinity, 0, 0, 0]]}', JSON, 400, "not valid JSON"),
    ("threshold list", PREDICT, b'{"instances": [[0,0,0,0]], "threshold": [0.5]}', JSON, 400, "threshold"),
    ("threshold true", PREDICT, b'{"instances": [[0,0,0,0]], "threshold": true}', JSON, 400, "threshold"),
    ("not UTF-8", PREDICT, b'{"instances": [[\xff\xfe, 0]]}', JSON, 400, "not valid UTF-8"),
    ("byte order mark", PREDICT, b'\xef\xbb\xbf{"instances": [[0,0,0,0]]}', JSON, 400, "byte order mark"),
    ("text/plain", PREDICT, b'{"instances": [[0,0,0,0]]}', {"content-type": "text/plain"}, 415, "application/json"),
    ("multipart", PREDICT, b"--x\r\n\r\n--x--", MULTIPART, 415, "application/json"),
    ("xml", PREDICT, b"<instances/>", {"content-type": "application/xml"}, 415, "application/json"),
    ("gzip bomb", PREDICT, gzip.compress(b"[" * 10**7), {**JSON, "content-encoding": "gzip"}, 415, "Content-Encoding"),
    ("deflate", PREDICT, b"x\x9c\x03\x00", {**JSON, "content-encoding": "deflate"}, 415, "Content-Encoding"),
    ("long model name", "/models/" + "m" * 5000 + "/predict", ZERO_ROW, JSON, 400, "invalid model name"),
    ("NUL in model name", "/models/a%00b/predict", ZERO_ROW, JSON, 400, "invalid model name"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "words"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_body_gets_a_4xx(
    client: httpx.Client, path: str, body: bytes, headers: dict, status: int, words: str
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert client.post(PREDICT, json={"instances": [ROW]}).status_code == 200


def test_million_element_row_is_refused_by_shape(guarded: RunningServer, key_header: dict[str, str]) -> None:
    """With a body limit that lets 10^6 numbers in (16 MB), the row is refused for its shape, not by a crash."""
    body = b'{"instances": [[' + b"0.5," * 10**6 + b"0]]}"
    response = httpx.post(f"{guarded.url}{PREDICT}", content=body, headers={**JSON, **key_header}, timeout=30)
    assert response.status_code == 400 and "shape [1, 1000001]" in response.json()["error"]
    assert httpx.get(f"{guarded.url}/health/ready").status_code == 200


# -- raw sockets: what an HTTP client library would not send ------------------------------------------


@pytest.fixture
def raw(server: RunningServer) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        yield sock


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def has_answer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def test_declared_oversized_body_is_refused_before_it_is_sent(raw: socket.socket, server: RunningServer) -> None:
    raw.sendall(request_head(PREDICT, {"Content-Length": str(10**9)}))
    answer = read_response(raw)  # no body byte has been sent
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"MAX_BODY_BYTES" in answer or b"content-length" in answer.lower()


def test_chunked_body_is_cut_off_at_the_limit(raw: socket.socket, client: httpx.Client) -> None:
    """No Content-Length: the limit applies while reading, and the 413 comes before the client is done."""
    limit = 65536  # MAX_BODY_BYTES of the session server
    chunk = b"[0.1,0.2,0.3,0.4]," * 512  # 9 KB
    planned = 200  # 1.8 MB, 28 times the limit
    raw.sendall(request_head(PREDICT, {"Transfer-Encoding": "chunked"}) + b'f\r\n{"instances": [\r\n')
    sent = 0
    for _ in range(planned):
        if has_answer(raw):
            break
        try:
            raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
        time.sleep(0.002)
    answer = read_response(raw)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert limit < sent < planned * len(chunk) // 2
    assert client.post(PREDICT, json={"instances": [ROW]}).status_code == 200


def test_truncated_body_then_close_leaves_the_server_healthy(server: RunningServer, client: httpx.Client) -> None:
    printed = len(server.lines)
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request_head(PREDICT, {"Content-Length": "1000"}) + b'{"instances": [[0.1, 0.2')
    assert client.get("/health/ready").status_code == 200
    assert client.post(PREDICT, json={"instances": [ROW]}).status_code == 200
    time.sleep(0.2)  # let the server finish logging the dropped requests
    logged = "".join(server.lines[printed:])
    assert "Traceback" not in logged and "Exception in ASGI" not in logged, logged

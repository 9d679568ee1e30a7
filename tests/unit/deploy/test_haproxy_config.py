"""deploy/haproxy/haproxy.cfg, read as a file (make scale-test and the compose container test run it): the gRPC health
check's hand-made HTTP/2 bytes are exactly a grpc.health.v1.Health/Check call (decoded with an independent HPACK
implementation, the message built by grpcio-health-checking), its expectations tell SERVING from NOT_SERVING, and
the retry policy retries only what is safe."""

from __future__ import annotations

import re
import struct

import pytest
from grpc_health.v1 import health_pb2
from hpack import Decoder

from tests.support.server import ROOT

CONFIG = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, DATA, SETTINGS = 0x1, 0x0, 0x4
END_STREAM, END_HEADERS = 0x1, 0x4


def directives(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{re.escape(name)}\s+(.*)$", CONFIG, re.M)]


def frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream, payload) of each HTTP/2 frame."""
    found = []
    while data:
        length = int.from_bytes(data[:3], "big")
        kind, flags, stream = data[3], data[4], struct.unpack(">I", data[5:9])[0] & 0x7FFFFFFF
        found.append((kind, flags, stream, data[9 : 9 + length]))
        data = data[9 + length :]
    return found


def grpc_message(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def test_the_grpc_check_sends_a_health_check_call() -> None:
    (hex_bytes,) = directives("tcp-check send-binary")
    data = bytes.fromhex(hex_bytes)
    assert data.startswith(PREFACE)
    (settings, headers, body) = frames(data[len(PREFACE) :])
    assert settings == (SETTINGS, 0, 0, b"")
    assert headers[:3] == (HEADERS, END_HEADERS, 1)
    assert Decoder().decode(headers[3]) == [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/grpc.health.v1.Health/Check"),
        (":authority", "haproxy-check"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    request = health_pb2.HealthCheckRequest(service="")  # the server as a whole
    assert body == (DATA, END_STREAM, 1, grpc_message(request.SerializeToString()))


@pytest.mark.parametrize(
    ("status", "passes"),
    [(health_pb2.HealthCheckResponse.SERVING, True), (health_pb2.HealthCheckResponse.NOT_SERVING, False)],
)
def test_the_expectations_tell_serving_from_not_serving(status: int, passes: bool) -> None:
    """haproxy's rbinary matches the hex of what it received: an answer's DATA frame, then its trailers."""
    answer = grpc_message(health_pb2.HealthCheckResponse(status=status).SerializeToString())
    received = (struct.pack(">I", len(answer))[1:] + bytes([DATA, 0]) + struct.pack(">I", 1) + answer).hex()
    first, last = directives("tcp-check expect")
    assert first.startswith("rbinary ") and last.startswith("min-recv 0 rbinary ")
    assert re.search(first.split()[-1], received)  # either answer ends the wait for one
    assert bool(re.search(last.split()[-1], received)) is passes


def test_retries_only_where_safe() -> None:
    (retry_on,) = directives("retry-on")
    assert retry_on.split() == ["conn-failure", "empty-response"]
    assert directives("option redispatch") == ["1"]
    assert directives("option").count("http-buffer-request") == 1  # a retry needs the whole body at hand


def test_every_replica_is_checked_on_both_protocols() -> None:
    section = r"^backend replicas_{}\n(.*?)(?=^\S|\Z)"
    rest, grpc = (re.search(section.format(name), CONFIG, re.M | re.S)[1] for name in ("rest", "grpc"))
    assert "uri /health/ready" in rest and "http-check expect status 200" in rest
    for number in (1, 2, 3):
        assert re.search(rf'server replica{number} "\$\{{REPLICA{number}_HTTP\}}" check$', rest, re.M)
        assert re.search(rf'server replica{number} "\$\{{REPLICA{number}_GRPC\}}" proto h2 check$', grpc, re.M)
    assert "presetenv BALANCE leastconn" in CONFIG and 'balance "${BALANCE}"' in CONFIG

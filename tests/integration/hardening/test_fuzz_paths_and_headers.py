"""No path segment and no header value earns a 5xx: hypothesis writes model names and versions into every native,
v2 and TF Serving route (huge, negative, non-ASCII, percent-encoded, invalid UTF-8 once decoded), and the headers the
service reads (Inference-Header-Content-Length, X-Request-Timeout-Ms, Content-Type, Content-Length) and any other.

Each answer is a 2xx (the input happened to be valid) or a 4xx with a JSON `error`, and the server is still live
after. Requests go over raw sockets, so the bytes are exactly the ones generated (tests/support/fuzzing.py).
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import (
    DIGITS_ROW,
    assert_clean,
    assert_still_serving,
    exchange,
    fuzz_settings,
    http_request,
)
from tests.support.server import RunningServer

NATIVE_BODY = json.dumps({"instances": [DIGITS_ROW]}).encode()
V2_BODY = json.dumps(
    {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": DIGITS_ROW}]}
).encode()

ROUTES = {  # (method, path with {n} for a model name and {v} for a version, body)
    "native": [
        ("GET", "/models/{n}", b""),
        ("POST", "/models/{n}/predict", NATIVE_BODY),
        ("POST", "/models/{n}/versions/{v}/predict", NATIVE_BODY),
    ],
    "v2": [
        ("GET", "/v2/models/{n}", b""),
        ("GET", "/v2/models/{n}/ready", b""),
        ("GET", "/v2/models/{n}/versions/{v}", b""),
        ("GET", "/v2/models/{n}/versions/{v}/ready", b""),
        ("GET", "/v2/models/{n}/config", b""),
        ("GET", "/v2/models/{n}/versions/{v}/config", b""),
        ("GET", "/v2/models/{n}/stats", b""),
        ("GET", "/v2/models/{n}/versions/{v}/stats", b""),
        ("POST", "/v2/models/{n}/infer", V2_BODY),
        ("POST", "/v2/models/{n}/versions/{v}/infer", V2_BODY),
        ("POST", "/v2/repository/models/{n}/load", b""),  # an unload is left out: it would take a model away
    ],
    "tfserving": [
        ("GET", "/v1/models/{n}", b""),
        ("GET", "/v1/models/{n}/versions/{v}", b""),
        ("GET", "/v1/models/{n}/metadata", b""),
        ("GET", "/v1/models/{n}/versions/{v}/metadata", b""),
        ("POST", "/v1/models/{n}:predict", NATIVE_BODY),
        ("POST", "/v1/models/{n}/versions/{v}:predict", NATIVE_BODY),
    ],
}

NAMES = st.sampled_from(["digits", "docstrings", "stats", "DIGITS", "digits:predict", ".", ".."])
VERSIONS = st.one_of(
    st.sampled_from(["1", "0", "01", "2", "-1", "+1", "1.0", "1e3", "0x1", "²", "٣", " 1", "9223372036854775807"]),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(1, 5000).map(lambda n: "9" * n),  # up to 5,000 digits: past Python's int-parsing limit
    st.integers(1, 5000).map(lambda n: "1" + "0" * n),
)
PERCENT_BYTES = st.binary(min_size=1, max_size=12).map(lambda raw: "".join(f"%{b:02X}" for b in raw))  # any UTF-8
SEGMENTS = st.one_of(NAMES, VERSIONS, st.text(max_size=40), PERCENT_BYTES, st.text(max_size=10).map(lambda t: "%" + t))


def encoded(segment: str, how: str) -> bytes:
    """A path segment as a client might write it: percent-encoded, with '%' left as it is (so '%zz' and '%00' reach
    the server raw), or as UTF-8 bytes with only what would break the request line encoded."""
    if how == "quoted":
        return quote(segment, safe="").encode()
    if how == "percent kept":
        return quote(segment, safe="%:@!$&'()*+,;=").encode()
    return b"".join(bytes([b]) if b > 0x20 and b != 0x7F else b"%%%02X" % b for b in segment.encode())


@pytest.mark.parametrize("protocol", ROUTES)
@given(data=st.data(), name=SEGMENTS, version=SEGMENTS, how=st.sampled_from(["quoted", "percent kept", "raw"]))
@fuzz_settings(examples=150)
def test_no_path_segment_earns_a_5xx(
    demo: RunningServer, protocol: str, data: st.DataObject, name: str, version: str, how: str
) -> None:
    method, template, body = data.draw(st.sampled_from(ROUTES[protocol]))
    target = template.encode().replace(b"{n}", encoded(name, how)).replace(b"{v}", encoded(version, how))
    headers = [(b"Content-Type", b"application/json")] if body else []
    assert_clean(exchange(demo, http_request(method, target, headers, body)), target)


def test_the_server_is_still_serving_after_the_paths(demo: RunningServer) -> None:
    assert_still_serving(demo, 0)


BINARY_BODY = V2_BODY.replace(b'"data": ' + json.dumps(DIGITS_ROW).encode(), b'"parameters": {"binary_data_size": 256}')
HEADER_VALUES = st.binary(max_size=60).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))
NUMBER_TEXTS = st.one_of(
    st.sampled_from([str(len(BINARY_BODY)), "0" + str(len(BINARY_BODY)), f" {len(BINARY_BODY)} "]),
    st.integers(-(10**40), 10**40).map(str),
    st.integers(1, 5000).map(lambda n: "9" * n),
    st.floats().map(repr),
    st.sampled_from(
        ["", " ", "0x10", "1_000", "١٢", "+5", "5 ", "nan", "inf", "-0", "1e309", "00000000000000000000012"]
    ),
)


@given(length=NUMBER_TEXTS, content_type=st.sampled_from([b"application/octet-stream", b"application/json"]))
@fuzz_settings(examples=80)
def test_no_inference_header_content_length_earns_a_5xx(demo: RunningServer, length: str, content_type: bytes) -> None:
    body = BINARY_BODY + bytes(256)
    headers = [(b"Content-Type", content_type), (b"Inference-Header-Content-Length", length.encode())]
    answer = exchange(demo, http_request("POST", b"/v2/models/digits/infer", headers, body))
    assert_clean(answer, length)
    if length.strip() == str(len(BINARY_BODY)):
        assert answer.status == 200, answer


def is_deadline(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and float(text) > 0
    except ValueError:
        return False


TIMED_TARGETS = [
    (b"/models/digits/predict", NATIVE_BODY),
    (b"/v2/models/digits/infer", V2_BODY),
    (b"/v1/models/digits:predict", NATIVE_BODY),
]


@given(target=st.sampled_from(TIMED_TARGETS), timeout=NUMBER_TEXTS | st.text(max_size=20))
@fuzz_settings(examples=80)
def test_no_request_timeout_earns_a_5xx_but_its_own_504(
    demo: RunningServer, target: tuple[bytes, bytes], timeout: str
) -> None:
    """A positive number of milliseconds is the client's own deadline: one too short to meet earns the documented
    504, and only then."""
    path, body = target
    headers = [(b"Content-Type", b"application/json"), (b"X-Request-Timeout-Ms", timeout.encode("utf-8"))]
    answer = exchange(demo, http_request("POST", path, headers, body))
    assert_clean(answer, timeout, allow=lambda status: status == 504 and is_deadline(timeout))


@given(target=st.sampled_from(TIMED_TARGETS), content_type=HEADER_VALUES | st.sampled_from([b"application/json; x"]))
@fuzz_settings(examples=80)
def test_no_content_type_earns_a_5xx(demo: RunningServer, target: tuple[bytes, bytes], content_type: bytes) -> None:
    path, body = target
    answer = exchange(demo, http_request("POST", path, [(b"Content-Type", content_type)], body))
    assert_clean(answer, content_type)
    if content_type.split(b";")[0].strip().lower() == b"application/json":
        assert answer.status == 200, answer


LENGTHS = st.one_of(
    st.integers(-5, 5).map(lambda delta: str(len(NATIVE_BODY) + delta)),
    st.integers(0, len(NATIVE_BODY) - 1).map(str),  # a body longer than declared: the rest reads as a next request
    NUMBER_TEXTS,
)


@given(
    target=st.sampled_from(TIMED_TARGETS),
    lengths=st.lists(LENGTHS, min_size=1, max_size=2),
    chunked=st.booleans(),
)
@fuzz_settings(examples=60)
def test_no_content_length_earns_a_5xx(
    demo: RunningServer, target: tuple[bytes, bytes], lengths: list[str], chunked: bool
) -> None:
    """Declared lengths that differ from the body, twice, not numbers, or beside Transfer-Encoding. A body shorter
    than declared waits for BODY_CHUNK_TIMEOUT_SECONDS (1 s here) and gets 408."""
    path, body = target
    headers = [(b"Content-Type", b"application/json")] + [(b"Content-Length", n.encode()) for n in lengths]
    if chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
    assert_clean(exchange(demo, http_request("POST", path, headers, body)), (lengths, chunked))


@given(
    name=st.binary(min_size=1, max_size=30).filter(lambda raw: b"\r" not in raw and b"\n" not in raw),
    value=HEADER_VALUES,
)
@fuzz_settings(examples=80)
def test_no_other_header_earns_a_5xx(demo: RunningServer, name: bytes, value: bytes) -> None:
    headers = [(b"Content-Type", b"application/json"), (name, value)]
    assert_clean(exchange(demo, http_request("POST", b"/predict", headers, NATIVE_BODY)), (name, value))


def test_the_server_is_still_serving_after_the_headers(demo: RunningServer) -> None:
    assert_still_serving(demo, 0)

"""No v2 binary request earns a 5xx: hypothesis varies the JSON header's declared length, each tensor's datatype,
shape and binary_data_size, and the bytes after the header (too few, too many, any content), over raw HTTP.

Each answer is a 2xx (everything happened to agree) or a 4xx with a JSON `error`; the server is still live after.
A request whose parts all agree is served.
"""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import assert_clean, assert_still_serving, exchange, fuzz_settings, http_request
from tests.support.server import RunningServer

ITEM_SIZES = {"BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2, "UINT32": 4, "INT32": 4}
ITEM_SIZES |= {"FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8}
DATATYPES = st.sampled_from([*ITEM_SIZES, "BYTES", "BF16", "fp32", "FP8", ""]) | st.text(max_size=6)
SHAPES = st.lists(st.integers(-2, 2**40), max_size=3) | st.lists(st.integers(0, 70), min_size=2, max_size=2)
SIZES = st.integers(-(2**70), 2**70) | st.integers(0, 600) | st.sampled_from([0, 256, 512]) | st.floats() | st.text()


ASPECTS = ["name", "datatype", "shape", "size", "byte count", "bytes", "declared length", "outputs", "second input"]


@st.composite
def binary_requests(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """A valid binary request for `digits` with some of its aspects spoiled (none, one or several): its body (JSON
    header + tensor bytes), its Inference-Header-Content-Length, and whether it is still valid."""
    spoil = draw(st.sets(st.sampled_from(ASPECTS), max_size=4))
    rows = draw(st.integers(1, 3))
    datatype = draw(DATATYPES) if "datatype" in spoil else "FP32"
    shape = draw(SHAPES) if "shape" in spoil else [rows, 64]
    natural_size = math.prod(shape) * ITEM_SIZES.get(datatype, 4) if all(d >= 0 for d in shape) else 0
    size = draw(SIZES) if "size" in spoil else natural_size
    name = draw(st.sampled_from(["features", "", "PIXELS"]) | st.text(max_size=6)) if "name" in spoil else "pixels"
    tensors = [{"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}]
    if "second input" in spoil:
        tensors.append({"name": draw(st.sampled_from(["pixels", "x"])), "datatype": "FP32", "shape": [1, 64]})
        tensors[-1]["parameters"] = {"binary_data_size": draw(st.sampled_from([256, 0, -1]))}
    header = {"inputs": tensors}
    if "outputs" in spoil:
        header["outputs"] = draw(st.lists(st.fixed_dictionaries({"name": st.text(max_size=4)}), max_size=2))
    else:
        header["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": draw(st.booleans())}}]
    header_bytes = json.dumps(header).encode()
    byte_count = size if isinstance(size, int) and 0 <= size <= 4096 else draw(st.integers(0, 600))
    if "byte count" in spoil:
        byte_count = max(0, byte_count + draw(st.sampled_from([-1, 1, -4, 4, 256, -256])))
    if "bytes" in spoil:
        tensor_bytes = draw(st.binary(min_size=byte_count, max_size=byte_count))  # NaN and Inf patterns among them
    else:
        tensor_bytes = np.random.default_rng(byte_count).uniform(0, 16, byte_count).astype("<f4").tobytes()
        tensor_bytes = tensor_bytes[:byte_count]
    declared = len(header_bytes)
    if "declared length" in spoil:
        declared += draw(st.sampled_from([-1, 1, -len(header_bytes), len(tensor_bytes), 10**6]))
    agrees = (
        spoil <= {"bytes", "byte count", "size", "shape", "outputs"}
        and shape == [rows, 64]
        and size == len(tensor_bytes) == rows * 256
        and np.isfinite(np.frombuffer(tensor_bytes, "<f4")).all()
        and all(output["name"] in ("probabilities", "logits", "predictions") for output in header["outputs"])
    )
    return header_bytes + tensor_bytes, str(declared).encode(), agrees


@given(case=binary_requests(), content_type=st.sampled_from([b"application/octet-stream", b"application/json"]))
@fuzz_settings(examples=300)
def test_no_binary_request_earns_a_5xx(
    demo: RunningServer, case: tuple[bytes, bytes, bool], content_type: bytes
) -> None:
    body, declared, agrees = case
    headers = [(b"Content-Type", content_type), (b"Inference-Header-Content-Length", declared)]
    answer = exchange(demo, http_request("POST", b"/v2/models/digits/infer", headers, body))
    assert_clean(answer, (declared, body[:400]))
    if agrees:
        assert answer.status == 200, (answer, body[:400])


def test_the_server_is_still_serving_after_the_binary_requests(demo: RunningServer) -> None:
    assert_still_serving(demo, 0)

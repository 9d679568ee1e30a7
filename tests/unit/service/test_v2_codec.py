"""Unit tests of the v2 tensor codec: JSON and binary tensors to numpy and back, and every refusal."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.errors import InvalidInput
from service.protocols.v2.codec import (
    RequestedOutput,
    decode_inputs,
    encode_response,
    request_threshold,
    requested_outputs,
    split_body,
)

FP32 = {"x": np.dtype(np.float32)}


def binary_request(header: dict, *chunks: bytes) -> tuple[bytes, str]:
    json_part = orjson.dumps(header)
    return json_part + b"".join(chunks), str(len(json_part))


def test_nested_and_flat_json_data_give_the_declared_shape() -> None:
    for data in ([[1, 2], [3, 4.5]], [1, 2, 3, 4.5]):
        arrays = decode_inputs(
            {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": data}]}, b"", FP32
        )
        np.testing.assert_array_equal(arrays["x"], [[1, 2], [3, 4.5]])


def test_binary_inputs_are_read_in_order_without_copying_through_python_floats() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[7, 8]], dtype=np.int64)
    header = {
        "inputs": [
            {"name": "a", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": a.nbytes}},
            {"name": "b", "shape": [1, 2], "datatype": "INT64", "parameters": {"binary_data_size": b.nbytes}},
        ]
    }
    body, length = binary_request(header, a.tobytes(), b.tobytes())
    parsed, binary = split_body(body, length)
    arrays = decode_inputs(parsed, binary, {"a": a.dtype, "b": b.dtype})
    np.testing.assert_array_equal(arrays["a"], a)
    np.testing.assert_array_equal(arrays["b"], b)
    assert arrays["a"].dtype == np.float32 and arrays["b"].dtype == np.int64


def test_json_and_binary_inputs_mix() -> None:
    b = np.array([[1, 2]], dtype=np.int64)
    header = {
        "inputs": [
            {"name": "a", "shape": [1, 1], "datatype": "FP32", "data": [0.5]},
            {"name": "b", "shape": [1, 2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
        ]
    }
    body, length = binary_request(header, b.tobytes())
    arrays = decode_inputs(*split_body(body, length), {})
    assert arrays["a"].tolist() == [[0.5]] and arrays["b"].tolist() == [[1, 2]]


REFUSED = [
    ("no inputs", {"inputs": []}, b"", "non-empty list"),
    ("unnamed", {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, b"", "string 'name'"),
    ("twice", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}, b"", "given twice"),
    ("bytes", {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, b"", "BYTES"),
    ("bf16", {"inputs": [{"name": "x", "shape": [1], "datatype": "BF16", "data": [1]}]}, b"", "BF16"),
    ("unknown type", {"inputs": [{"name": "x", "shape": [1], "datatype": "REAL", "data": [1]}]}, b"", "'REAL'"),
    (
        "wrong type",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]},
        b"",
        "takes datatype FP32",
    ),
    ("bad shape", {"inputs": [{"name": "x", "shape": [-1, 2], "datatype": "FP32", "data": [1, 2]}]}, b"", "'shape'"),
    (
        "count",
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]},
        b"",
        "holds 3 values",
    ),
    (
        "ragged",
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3]]}]},
        b"",
        "rectangular",
    ),
    ("text", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["1"]}]}, b"", "takes numbers"),
    ("bools", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [True]}]}, b"", "takes numbers"),
    ("float ids", {"inputs": [{"name": "i", "shape": [1], "datatype": "INT64", "data": [1.5]}]}, b"", "integers"),
    ("no data", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, b"", "neither 'data'"),
    ("data not list", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": 1}]}, b"", "must be a"),
    (
        "binary size vs shape",
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]},
        b"\0" * 4,
        "needs 8",
    ),
    (
        "binary past the end",
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]},
        b"\0" * 4,
        "runs past the end",
    ),
    (
        "bytes left over",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]},
        b"\0" * 6,
        "2 bytes after the tensors",
    ),
    (
        "negative size",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": -4}}]},
        b"",
        "non-negative integer",
    ),
    (
        "shared memory",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"shared_memory_region": "r"}}]},
        b"",
        "not supported",
    ),
]


@pytest.mark.parametrize(("header", "binary", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_inputs_are_refused_with_a_message(header: dict, binary: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_inputs(header, memoryview(binary), {**FP32, "i": np.dtype(np.int64)})
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("length", "words"), [("abc", "non-negative integer"), ("-1", "non-negative integer"), ("999", "only 10 bytes")]
)
def test_bad_header_length(length: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        split_body(b'{"a": 1}xy', length)
    assert words in str(caught.value)


def test_header_length_cutting_the_json_is_a_json_error() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        split_body(b'{"inputs": []}', "5")


def test_requested_outputs() -> None:
    names = ["p", "q"]
    assert requested_outputs({}, names) == [RequestedOutput("p", False), RequestedOutput("q", False)]
    everything_binary = requested_outputs({"parameters": {"binary_data_output": True}}, names)
    assert all(o.binary for o in everything_binary)
    chosen = requested_outputs(
        {"parameters": {"binary_data_output": True}, "outputs": [{"name": "q", "parameters": {"binary_data": False}}]},
        names,
    )
    assert chosen == [RequestedOutput("q", False)]
    with pytest.raises(InvalidInput, match="unknown output 'z'"):
        requested_outputs({"outputs": [{"name": "z"}]}, names)
    with pytest.raises(InvalidInput, match="classification"):
        requested_outputs({"outputs": [{"name": "p", "parameters": {"classification": 2}}]}, names)
    with pytest.raises(InvalidInput, match="true or false"):
        requested_outputs({"parameters": {"binary_data_output": "yes"}}, names)


def test_encode_json_and_binary_outputs() -> None:
    probabilities = np.array([[0.1, 0.7]], np.float32)
    hot = np.array([[False, True]])
    body, length = encode_response(
        {"model_name": "m"}, [(RequestedOutput("p", False), probabilities), (RequestedOutput("h", False), hot)]
    )
    assert length is None
    document = orjson.loads(body)
    assert document["outputs"] == [
        {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.1, 0.7]},
        {"name": "h", "datatype": "BOOL", "shape": [1, 2], "data": [False, True]},
    ]
    assert np.array_equal(np.array(document["outputs"][0]["data"], np.float32), probabilities.ravel())

    body, length = encode_response(
        {"model_name": "m"}, [(RequestedOutput("p", True), probabilities), (RequestedOutput("h", True), hot)]
    )
    header = orjson.loads(body[:length])
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 2]
    assert "data" not in header["outputs"][0]
    assert np.array_equal(np.frombuffer(body[length : length + 8], np.float32), probabilities.ravel())
    assert body[length + 8 :] == b"\x00\x01"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=20,
)
TENSORS = st.fixed_dictionaries(
    {"name": st.sampled_from(["x", "i"]) | JSON_VALUES},
    optional={
        "datatype": st.sampled_from(["FP32", "INT64", "BOOL", "BYTES", "FP16"]) | JSON_VALUES,
        "shape": st.lists(st.integers(min_value=-1, max_value=10**20), max_size=3) | JSON_VALUES,
        "data": JSON_VALUES,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-1, 40)}) | JSON_VALUES,
    },
)


@settings(max_examples=120, deadline=None)
@given(
    header=st.fixed_dictionaries(
        {},
        optional={
            "inputs": st.lists(TENSORS, max_size=3) | JSON_VALUES,
            "outputs": st.lists(st.fixed_dictionaries({"name": JSON_VALUES}), max_size=2) | JSON_VALUES,
            "parameters": JSON_VALUES,
        },
    ),
    binary=st.binary(max_size=40),
)
def test_any_header_decodes_or_is_refused_as_invalid_input(header: dict, binary: bytes) -> None:
    """Whatever a client sends, the codec answers with arrays or InvalidInput (a 400), never another error."""
    try:
        arrays = decode_inputs(header, memoryview(binary), {**FP32, "i": np.dtype(np.int64)})
    except InvalidInput as exc:
        assert str(exc)
    else:
        for tensor in header["inputs"]:
            assert list(arrays[tensor["name"]].shape) == tensor["shape"]
    try:
        outputs = requested_outputs(header, ["probabilities", "logits"])
        request_threshold(header)
    except InvalidInput as exc:
        assert str(exc)
    else:
        assert {o.name for o in outputs} <= {"probabilities", "logits"}

"""No gRPC message earns INTERNAL or UNKNOWN: hypothesis builds ModelInferRequest messages (tritonclient's own
generated classes, sent on a plain channel so nothing is checked on the way) with any model name and version, any
tensor names, datatypes, shapes, typed contents and raw contents, and any parameters; and any bytes at all as the
message of each model call.

A client's mistake is INVALID_ARGUMENT or NOT_FOUND with a message (DEADLINE_EXCEEDED when it set a timeout it
could not meet), a valid request is OK, and the server is still live after.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from tests.support.fuzzing import DIGITS_ROW, assert_still_serving, fuzz_settings
from tests.support.server import RunningServer

CLIENT_MISTAKES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
INT64 = st.integers(-(2**63), 2**63 - 1)
NAMES = st.sampled_from(["digits", "docstrings", ""]) | st.text(max_size=20)
VERSIONS = st.one_of(
    st.sampled_from(["", "1", "2", "0", "-1", "01", "1.0", "²", "9223372036854775807", "9223372036854775808"]),
    INT64.map(str),
    st.integers(1, 5000).map(lambda n: "9" * n),  # past Python's int-parsing limit
    st.text(max_size=10),
)
DATATYPES = st.sampled_from(["FP32", "FP64", "INT64", "INT32", "BOOL", "UINT8", "FP16", "BYTES", "BF16", ""]) | st.text(
    max_size=5
)
SHAPES = st.just([1, 64]) | st.lists(st.integers(0, 70), max_size=3) | st.lists(INT64, max_size=3)
CONTENTS = {  # typed contents field: its values
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": INT64,
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "bool_contents": st.booleans(),
    "bytes_contents": st.binary(max_size=8),
}
PARAMETER_VALUES = st.one_of(
    st.booleans().map(lambda v: pb.InferParameter(bool_param=v)),
    INT64.map(lambda v: pb.InferParameter(int64_param=v)),
    st.floats().map(lambda v: pb.InferParameter(double_param=v)),
    st.integers(0, 2**64 - 1).map(lambda v: pb.InferParameter(uint64_param=v)),
    (st.text(max_size=12) | st.sampled_from(['{"even": 0.2}', "0.3", "[1]", "{}", "nan"])).map(
        lambda v: pb.InferParameter(string_param=v)
    ),
)
PARAMETER_KEYS = st.sampled_from(["threshold", "timeout", "binary_data_output", "sequence_id", "priority"]) | st.text(
    max_size=8
)


@pytest.fixture(scope="module")
def channel(demo: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(demo.grpc_target) as opened:
        yield opened


ASPECTS = ["model", "version", "name", "datatype", "shape", "contents", "raw", "outputs", "parameters", "inputs"]


def spoiled(draw: st.DrawFn, spoil: set[str], aspect: str, valid: object, other: st.SearchStrategy) -> object:
    return draw(other) if aspect in spoil else valid


@st.composite
def tensors(draw: st.DrawFn, spoil: set[str]) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=spoiled(draw, spoil, "name", "pixels", st.sampled_from(["text", ""]) | st.text(max_size=8)),
        datatype=spoiled(draw, spoil, "datatype", "FP32", DATATYPES),
        shape=spoiled(draw, spoil, "shape", [1, 64], SHAPES),
    )
    if "contents" in spoil:
        field = draw(st.sampled_from([None, *CONTENTS]))
        if field is not None:
            size = draw(st.just(64) | st.integers(0, 130))
            getattr(tensor.contents, field).extend(draw(st.lists(CONTENTS[field], min_size=size, max_size=size)))
    elif "raw" not in spoil:
        tensor.contents.fp32_contents.extend(DIGITS_ROW)
    if "parameters" in spoil:
        keys = PARAMETER_KEYS | st.just("binary_data_size")
        for key, value in draw(st.dictionaries(keys, PARAMETER_VALUES, min_size=1, max_size=2)).items():
            tensor.parameters[key].CopyFrom(value)
    return tensor


@st.composite
def infer_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    """A valid request for `digits` with some of its aspects spoiled (none, one, or several at once)."""
    spoil = draw(st.sets(st.sampled_from(ASPECTS), max_size=4))
    inputs = draw(st.lists(tensors(spoil), min_size=0, max_size=3)) if "inputs" in spoil else [draw(tensors(spoil))]
    request = pb.ModelInferRequest(
        model_name=spoiled(draw, spoil, "model", "digits", NAMES),
        model_version=spoiled(draw, spoil, "version", "", VERSIONS),
        id=draw(st.text(max_size=10)),
        inputs=inputs,
    )
    if "raw" in spoil:
        raw = st.binary(min_size=256, max_size=256) | st.binary(max_size=300)
        request.raw_input_contents.extend(draw(st.lists(raw, max_size=3)))
    outputs = st.lists(st.sampled_from(["probabilities", "logits", "predictions"]) | st.text(max_size=6), max_size=3)
    for name in spoiled(draw, spoil, "outputs", ["probabilities", "predictions"], outputs):
        request.outputs.add(name=name)
    if "parameters" in spoil:
        for key, value in draw(st.dictionaries(PARAMETER_KEYS, PARAMETER_VALUES, max_size=2)).items():
            request.parameters[key].CopyFrom(value)
    return request


def assert_clean_status(call, request: object, timeout_given: bool = False) -> None:
    try:
        call(request, timeout=20)
        event("OK")
    except grpc.RpcError as error:
        code = error.code()
        event(code.name)
        allowed = CLIENT_MISTAKES | ({grpc.StatusCode.DEADLINE_EXCEEDED} if timeout_given else set())
        assert code in allowed, (code, error.details(), request)
        assert error.details(), (code, request)


@given(request=infer_requests())
@fuzz_settings(examples=300)
def test_no_infer_request_earns_internal_or_unknown(
    demo: RunningServer, channel: grpc.Channel, request: pb.ModelInferRequest
) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    assert_clean_status(stub.ModelInfer, request, timeout_given="timeout" in request.parameters)


MODEL_CALLS = {  # call: the request message built from a model name and a version
    "ModelReady": lambda name, version: pb.ModelReadyRequest(name=name, version=version),
    "ModelMetadata": lambda name, version: pb.ModelMetadataRequest(name=name, version=version),
    "ModelConfig": lambda name, version: pb.ModelConfigRequest(name=name, version=version),
    "ModelStatistics": lambda name, version: pb.ModelStatisticsRequest(name=name, version=version),
    "ModelInfer": lambda name, version: pb.ModelInferRequest(model_name=name, model_version=version),
}


@given(call=st.sampled_from(list(MODEL_CALLS)), name=NAMES, version=VERSIONS)
@fuzz_settings(examples=200)
def test_no_model_name_or_version_earns_internal_or_unknown(
    demo: RunningServer, channel: grpc.Channel, call: str, name: str, version: str
) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    assert_clean_status(getattr(stub, call), MODEL_CALLS[call](name, version))


@given(call=st.sampled_from(list(MODEL_CALLS)), message=st.binary(max_size=200))
@fuzz_settings(examples=150)
def test_no_bytes_earn_internal_or_unknown(
    demo: RunningServer, channel: grpc.Channel, call: str, message: bytes
) -> None:
    """Whatever the bytes, the message is parsed by the server's own guard: INVALID_ARGUMENT when they are none."""
    raw_call = channel.unary_unary(f"/inference.GRPCInferenceService/{call}")  # bytes in, bytes out
    assert_clean_status(raw_call, message)


def test_the_server_is_still_serving_after_the_grpc_calls(demo: RunningServer) -> None:
    assert_still_serving(demo, 0)

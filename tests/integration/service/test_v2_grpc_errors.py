"""Every gRPC status a client's mistake or the server's state can earn, through tritonclient.grpc against a real
server: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, RESOURCE_EXHAUSTED; never
UNKNOWN or INTERNAL for a client's mistake; the server stays up; the metrics count them with protocol="grpc"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.support.grpc_helpers import grpc_client, status_of
from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer, serving
from tests.support.slow_model import slow_model

INVALID = grpc.StatusCode.INVALID_ARGUMENT
ROW = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)


@pytest.fixture
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    yield from grpc_client(server)


def features(array: np.ndarray, datatype: str = "FP32", name: str = "features") -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def typed(name: str, shape: list[int], datatype: str, field: str, values: list) -> triton.InferInput:
    tensor = triton.InferInput(name, shape, datatype)
    getattr(tensor._get_tensor().contents, field).extend(values)
    return tensor


BAD_REQUESTS = {
    "wrong shape": ([features(np.zeros((1, 5), np.float32))], {}, "has shape [1, 5], expected [rows, 4]"),
    "wrong datatype": ([features(np.zeros((1, 4), np.float64), "FP64")], {}, "takes datatype FP32, got FP64"),
    "unknown datatype": ([typed("features", [1, 4], "FP8", "fp32_contents", [0.0] * 4)], {}, "unknown datatype"),
    "text for a numeric input": (
        [typed("features", [1, 4], "BYTES", "bytes_contents", [b"a"] * 4)],
        {},
        "input 'features' takes datatype FP32, got BYTES",
    ),
    "unknown input": ([features(ROW, name="pixels")], {}, "'features' is missing, and 'pixels' is not"),
    "no inputs": ([], {}, "'inputs' must hold at least one tensor"),
    "too few values": ([typed("features", [1, 4], "FP32", "fp32_contents", [1.0])], {}, "holds 1 value but"),
    "values in the wrong field": (
        [typed("features", [1, 4], "FP32", "int_contents", [1] * 4)],
        {},
        "takes its values in contents.fp32_contents",
    ),
    "NaN": ([features(np.full((1, 4), np.nan, np.float32))], {}, "NaN"),
    "no contents": ([triton.InferInput("features", [1, 4], "FP32")], {}, "neither 'contents' nor raw_input_contents"),
    "empty batch": ([features(np.zeros((0, 4), np.float32))], {}, "empty batch"),
    "over MAX_BATCH_SIZE": ([features(np.zeros((17, 4), np.float32))], {}, "over the limit of 16"),
    "unknown output": (
        [features(ROW)],
        {"outputs": [triton.InferRequestedOutput("scores")]},
        "unknown output 'scores'",
    ),
    "threshold out of range": ([features(ROW)], {"parameters": {"threshold": 2.0}}, "must be a number in [0, 1]"),
    "threshold of an unknown label": (
        [features(ROW)],
        {"parameters": {"threshold": '{"z": 0.1}'}},
        "unknown label 'z'",
    ),
    "threshold not JSON": ([features(ROW)], {"parameters": {"threshold": "high"}}, "number or JSON text"),
    "sequence batching": ([features(ROW)], {"sequence_id": 7}, "no sequence batching"),
    "bad version": ([features(ROW)], {"model_version": "two"}, "positive integer"),
}


@pytest.mark.parametrize("inputs, options, message", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_input_is_invalid_argument_naming_the_problem(
    client: triton.InferenceServerClient, inputs: list, options: dict, message: str
) -> None:
    status, text = status_of(client.infer, "linear", inputs, **options)
    assert status == INVALID, text
    assert message in text
    assert client.is_server_live()


def test_raw_contents_that_do_not_fit_are_invalid_argument(client: triton.InferenceServerClient) -> None:
    short = triton.InferInput("features", [1, 4], "FP32")
    short.set_data_from_numpy(ROW)
    short._raw_content = ROW.tobytes()[:12]
    status, text = status_of(client.infer, "linear", [short])
    assert status == INVALID and "raw_input_contents is 12 bytes but shape [1, 4] of FP32 needs 16" in text
    mixed = features(ROW)
    mixed._get_tensor().contents.fp32_contents.extend([0.0] * 4)
    status, text = status_of(client.infer, "linear", [mixed])
    assert status == INVALID and "'contents' although raw_input_contents is used" in text


def test_unknown_model_or_version_is_not_found(client: triton.InferenceServerClient) -> None:
    status, text = status_of(client.infer, "nope", [features(ROW)])
    assert status == grpc.StatusCode.NOT_FOUND and "unknown model 'nope'" in text
    status, text = status_of(client.infer, "linear", [features(ROW)], model_version="1")
    assert status == grpc.StatusCode.NOT_FOUND and "served version: 2" in text
    for call in (client.get_model_config, client.get_inference_statistics, client.get_model_metadata):
        assert status_of(call, "nope")[0] == grpc.StatusCode.NOT_FOUND
    assert status_of(client.load_model, "nope")[0] == grpc.StatusCode.NOT_FOUND
    assert status_of(client.unload_model, "nope")[0] == grpc.StatusCode.NOT_FOUND


def test_a_message_over_max_body_bytes_is_resource_exhausted(client: triton.InferenceServerClient) -> None:
    big = np.zeros((16, 2048), np.float32)  # 128 KiB, over the fixture's MAX_BODY_BYTES of 64 KiB
    status, text = status_of(client.infer, "linear", [features(big)])
    assert status == grpc.StatusCode.RESOURCE_EXHAUSTED, text
    assert client.is_server_ready()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("slow-grpc")
    slow_model(root / "slow" / "1" / "model.onnx", steps=12)
    linear_model(root / "linear" / "1" / "model.onnx")
    yield from serving({"MODEL_REPOSITORY": str(root), "MAX_BATCH_SIZE": "1", "MAX_QUEUE_ROWS": "1"})


def test_a_missed_deadline_is_deadline_exceeded(slow_server: RunningServer) -> None:
    """The client's gRPC deadline becomes the request's: the server gives up on time and says so."""
    client = triton.InferenceServerClient(slow_server.grpc_target)
    try:
        status, text = status_of(client.infer, "slow", [features(ROW)], client_timeout=0.05)
        assert status == grpc.StatusCode.DEADLINE_EXCEEDED, text
        # Triton's `timeout` parameter (µs) is a deadline too, and the server's own answer names it.
        status, text = status_of(client.infer, "slow", [features(ROW)], timeout=1000)
        assert status == grpc.StatusCode.DEADLINE_EXCEEDED and "deadline of 1 ms" in text
        stats = client.get_inference_statistics("slow").model_stats[0].inference_stats
        assert stats.fail.count >= 1  # the server's own deadline failed the request it was running
        assert answer_when_idle(client).shape == (1, 3)
    finally:
        client.close()


def answer_when_idle(client: triton.InferenceServerClient) -> np.ndarray:
    """The slow model's answer once what earlier calls left in its queue of one row has run."""
    for _ in range(300):
        try:
            return client.infer("slow", [features(ROW)], client_timeout=60).as_numpy("probabilities")
        except InferenceServerException as exc:
            if "queue is full" not in exc.message():
                raise
            time.sleep(0.1)
    raise TimeoutError("the slow model's queue stayed full")


def test_a_full_queue_is_unavailable(slow_server: RunningServer) -> None:
    client = triton.InferenceServerClient(slow_server.grpc_target)
    answer_when_idle(client)
    client.close()

    async def scenario() -> list[str]:
        async with triton_aio.InferenceServerClient(slow_server.grpc_target) as client:

            async def one() -> str:
                tensor = triton_aio.InferInput("features", [1, 4], "FP32")
                tensor.set_data_from_numpy(ROW)
                try:
                    await client.infer("slow", [tensor], client_timeout=60)
                except InferenceServerException as exc:
                    return f"{exc.status()}: {exc.message()}"
                return "OK"

            return await asyncio.gather(*(one() for _ in range(6)))

    answers = asyncio.run(scenario())
    assert "OK" in answers
    refused = [a for a in answers if a != "OK"]
    assert refused and all(a.startswith("StatusCode.UNAVAILABLE: queue is full") for a in refused), answers


def test_an_unloaded_model_is_unavailable(slow_server: RunningServer) -> None:
    client = triton.InferenceServerClient(slow_server.grpc_target)
    try:
        client.unload_model("linear")
        status, text = status_of(client.infer, "linear", [features(ROW)])
        assert status == grpc.StatusCode.UNAVAILABLE and "unloaded through the repository API" in text
        assert not client.is_model_ready("linear")
    finally:
        client.load_model("linear")
        client.close()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("keyed-grpc")
    linear_model(root / "linear" / "1" / "model.onnx")
    yield from serving({"MODEL_REPOSITORY": str(root), "API_KEYS": "k-one,k-two"})


def test_api_keys_are_required_except_for_health(keyed_server: RunningServer) -> None:
    anonymous = triton.InferenceServerClient(keyed_server.grpc_target)
    try:
        assert anonymous.is_server_live() and anonymous.is_server_ready()  # probes stay open
        with grpc.insecure_channel(keyed_server.grpc_target) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        for call, args in (
            (anonymous.infer, ("linear", [features(ROW)])),
            (anonymous.get_model_metadata, ("linear",)),
            (anonymous.is_model_ready, ("linear",)),
            (anonymous.get_model_repository_index, ()),
            (anonymous.unload_model, ("linear",)),
        ):
            status, text = status_of(call, *args)
            assert status == grpc.StatusCode.UNAUTHENTICATED and "missing API key" in text
        wrong = {"authorization": "Bearer k-three"}
        status, text = status_of(anonymous.infer, "linear", [features(ROW)], headers=wrong)
        assert status == grpc.StatusCode.UNAUTHENTICATED and text == "invalid API key"
        key = {"authorization": "Bearer k-two"}
        assert anonymous.is_model_ready("linear", headers=key)  # the unload refused above did not happen
        result = anonymous.infer("linear", [features(ROW)], headers=key)
        assert result.as_numpy("probabilities").shape == (1, 3)
    finally:
        anonymous.close()


def test_grpc_requests_are_in_the_metrics_and_the_log(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    before = httpx.get(f"{server.url}/metrics").text
    client.infer("linear", [features(ROW)], headers={"x-request-id": "grpc-metrics-1"})
    status_of(client.infer, "nope", [features(ROW)], headers={"x-request-id": "grpc-metrics-2"})
    after = httpx.get(f"{server.url}/metrics").text

    def count(text: str, labels: str) -> float:
        line = next((x for x in text.splitlines() if x.startswith(f"sigmoid_serve_requests_total{{{labels}}}")), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    ok = 'model="linear",protocol="grpc",status="OK"'
    not_found = 'model="",protocol="grpc",status="NOT_FOUND"'
    assert count(after, ok) == count(before, ok) + 1
    assert count(after, not_found) == count(before, not_found) + 1
    assert 'sigmoid_serve_request_duration_seconds_count{model="linear",protocol="grpc"}' in after
    failed = next(line for line in server.output.splitlines() if "grpc-metrics-2" in line)
    assert '"status":"NOT_FOUND"' in failed and "unknown model 'nope'" in failed


def test_the_request_id_comes_back_in_the_trailing_metadata(server: RunningServer) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelMetadata")
        request = triton.service_pb2.ModelMetadataRequest(name="nope").SerializeToString()
        with pytest.raises(grpc.RpcError) as failure:
            call(request, timeout=5, metadata=[("x-request-id", "trace-me")])
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-request-id", "trace-me") in failure.value.trailing_metadata()


@pytest.mark.parametrize("method", ["ModelInfer", "ModelMetadata", "ModelStatistics", "RepositoryModelLoad"])
def test_a_malformed_message_is_invalid_argument_not_unknown(server: RunningServer, method: str) -> None:
    """Bytes that are not the call's message: the client's mistake, named, with no traceback in the log."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}")
        for raw in (b"\xff\xff\xff", b"\x0a\x05ab", b"not protobuf at all"):
            with pytest.raises(grpc.RpcError) as failure:
                call(raw, timeout=5)
            assert failure.value.code() == INVALID, (raw, failure.value.details())
            assert f"is not a valid inference.{method}Request message" in failure.value.details()
    assert "Traceback" not in server.output and '"status":"UNKNOWN"' not in server.output

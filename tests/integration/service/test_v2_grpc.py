"""The Open Inference Protocol v2 over gRPC against a real server, through the official tritonclient.grpc (sync and
asyncio) and the standard grpc.health.v1 client: raw and typed tensors, output
selection, thresholds, health, metadata, and answers equal to the native API's bit for bit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import orjson
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.contract.version import VERSION
from tests.support.grpc_helpers import grpc_client, status_of
from tests.support.server import RunningServer
from tests.support.v2_helpers import ROWS, native_outputs


@pytest.fixture
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    yield from grpc_client(server)


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http_client:
        yield http_client


@pytest.mark.smoke
def test_raw_tensors_equal_the_native_api(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer("linear", [tensor], request_id="req-7")
    expected_probabilities, expected_multi_hot = native_outputs(http, "linear", ROWS.tolist())
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (5, 3)
    assert np.array_equal(probabilities, expected_probabilities)  # bit-for-bit, not within a tolerance
    assert np.array_equal(result.as_numpy("predictions"), expected_multi_hot)
    assert result.as_numpy("logits").shape == (5, 3)
    response = result.get_response()
    assert (response.id, response.model_name, response.model_version) == ("req-7", "linear", "2")
    assert [o.name for o in response.outputs] == ["probabilities", "logits", "predictions"]
    assert len(response.raw_output_contents) == 3


def test_output_selection_and_version(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer("linear", [tensor], model_version="2", outputs=[triton.InferRequestedOutput("predictions")])
    assert [o.name for o in result.get_response().outputs] == ["predictions"]
    assert result.as_numpy("probabilities") is None
    assert np.array_equal(result.as_numpy("predictions"), native_outputs(http, "linear", ROWS.tolist())[1])


def test_typed_contents_in_typed_contents_out(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    """A KServe-style request with `contents` instead of raw bytes: two inputs of two types, answered in kind."""
    numbers = np.array([[1, 2, 3], [0, 0, 0]], np.float32)
    tokens = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, 9]], np.int64)
    inputs = [triton.InferInput("numbers", [2, 3], "FP32"), triton.InferInput("tokens", [2, 5], "INT64")]
    inputs[0]._get_tensor().contents.fp32_contents.extend(numbers.ravel().tolist())
    inputs[1]._get_tensor().contents.int64_contents.extend(tokens.ravel().tolist())
    response = client.infer("pair", inputs, parameters={"threshold": 0.2}).get_response()
    assert len(response.raw_output_contents) == 0
    by_name = {o.name: o for o in response.outputs}
    assert list(by_name["probabilities"].shape) == [2, 2] and by_name["predictions"].datatype == "BOOL"
    probabilities = np.array(by_name["probabilities"].contents.fp32_contents, np.float32).reshape(2, 2)
    multi_hot = np.array(by_name["predictions"].contents.bool_contents).reshape(2, 2)
    instances = [{"numbers": n, "tokens": t} for n, t in zip(numbers.tolist(), tokens.tolist(), strict=True)]
    expected_probabilities, expected_multi_hot = native_outputs(http, "pair", instances, threshold=0.2)
    assert np.array_equal(probabilities, expected_probabilities)
    assert np.array_equal(multi_hot, expected_multi_hot)


@pytest.mark.parametrize("threshold", [0.0, 1, '{"a": 0.0, "c": 1.0}', "0.7"])
def test_the_threshold_parameter_as_in_rest(
    client: triton.InferenceServerClient, http: httpx.Client, threshold: object
) -> None:
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)
    result = client.infer("linear", [tensor], parameters={"threshold": threshold})
    native = orjson.loads(threshold) if isinstance(threshold, str) else threshold
    assert np.array_equal(
        result.as_numpy("predictions"), native_outputs(http, "linear", ROWS.tolist(), threshold=native)[1]
    )


def test_asyncio_client_many_calls_at_once(server: RunningServer, http: httpx.Client) -> None:
    expected, _ = native_outputs(http, "linear", ROWS.tolist())

    async def scenario() -> list[np.ndarray]:
        async with triton_aio.InferenceServerClient(server.grpc_target) as client:
            assert await client.is_server_ready() and await client.is_model_ready("linear")

            async def one(row: int) -> np.ndarray:
                tensor = triton_aio.InferInput("features", [1, 4], "FP32")
                tensor.set_data_from_numpy(ROWS[row : row + 1])
                return (await client.infer("linear", [tensor])).as_numpy("probabilities")[0]

            return await asyncio.gather(*(one(i % 5) for i in range(40)))

    answers = asyncio.run(scenario())
    assert all(np.array_equal(answer, expected[i % 5]) for i, answer in enumerate(answers))


def test_health_through_tritonclient_and_grpc_health(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("linear") and client.is_model_ready("linear", "2")
    assert not client.is_model_ready("linear", "1")  # on disk, but version 2 is the one served
    assert status_of(client.is_model_ready, "nope")[0] == grpc.StatusCode.NOT_FOUND
    with grpc.insecure_channel(server.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()


def test_metadata(client: triton.InferenceServerClient) -> None:
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "sigmoid-serve" and server["version"] == VERSION
    assert set(server["extensions"]) == {"model_repository", "model_configuration", "statistics"}
    metadata = client.get_model_metadata("pair")
    assert (metadata.name, list(metadata.versions), metadata.platform) == ("pair", ["1"], "onnxruntime_onnx")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("numbers", "FP32", [-1, 3]),
        ("tokens", "INT64", [-1, 5]),
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("probabilities", "FP32", [-1, 2]),
        ("logits", "FP32", [-1, 2]),
        ("predictions", "BOOL", [-1, 2]),
    ]
    assert client.get_model_metadata("linear", "2").versions == ["2"]
    assert status_of(client.get_model_metadata, "linear", "1")[0] == grpc.StatusCode.NOT_FOUND


def test_labels_and_thresholds_travel_in_kserve_properties(server: RunningServer) -> None:
    """KServe's ModelMetadataResponse field 6 (`properties`), which Triton's message lacks: read off the wire."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelMetadata")
        request = triton.service_pb2.ModelMetadataRequest(name="linear").SerializeToString()
        raw = call(request, timeout=5)
    assert b'["a","b","c"]' in raw and b"[0.5,0.3,0.9]" in raw  # properties: labels, thresholds as JSON text
    parsed = triton.service_pb2.ModelMetadataResponse.FromString(raw)  # Triton's clients skip the field
    assert parsed.name == "linear"

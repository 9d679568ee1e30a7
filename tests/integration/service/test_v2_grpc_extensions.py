"""Triton's model configuration, statistics and model repository extensions, over gRPC and REST, through the
official tritonclient.grpc and tritonclient.http against a real server: the configuration is the server's real
batching, the statistics count exactly the requests sent, and repository control works over gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.http as triton_http

from tests.support.grpc_helpers import grpc_client, status_of
from tests.support.onnx_models import linear_model, two_input_model
from tests.support.server import RunningServer, serving

ROWS = np.random.default_rng(3).normal(size=(2, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extensions")
    linear_model(root / "linear" / "1" / "model.onnx")
    two_input_model(root / "pair" / "1" / "model.onnx")
    return root


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(repository), "MAX_BATCH_SIZE": "8", "MAX_BATCH_DELAY_MS": "2"})


@pytest.fixture
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    yield from grpc_client(server)


@pytest.fixture
def http_client(server: RunningServer) -> Iterator[triton_http.InferenceServerClient]:
    client = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def test_the_configuration_is_the_real_one_over_grpc_and_rest(
    server: RunningServer, client: triton.InferenceServerClient, http_client: triton_http.InferenceServerClient
) -> None:
    config = client.get_model_config("pair").config
    assert (config.name, config.platform, config.backend) == ("pair", "onnxruntime_onnx", "onnxruntime")
    assert config.max_batch_size == 8  # MAX_BATCH_SIZE
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000  # MAX_BATCH_DELAY_MS
    assert [(i.name, triton.model_config_pb2.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("numbers", "TYPE_FP32", [3]),
        ("tokens", "TYPE_INT64", [5]),
    ]
    assert [(o.name, triton.model_config_pb2.DataType.Name(o.data_type), list(o.dims)) for o in config.output] == [
        ("probabilities", "TYPE_FP32", [2]),
        ("logits", "TYPE_FP32", [2]),
        ("predictions", "TYPE_BOOL", [2]),
    ]
    assert config.parameters["labels"].string_value == '["x","y"]'
    rest = http_client.get_model_config("pair")
    assert rest["max_batch_size"] == 8 and rest["dynamic_batching"] == {"max_queue_delay_microseconds": 2000}
    assert [(i["name"], i["data_type"], i["dims"]) for i in rest["input"]] == [
        ("numbers", "TYPE_FP32", [3]),
        ("tokens", "TYPE_INT64", [5]),
    ]
    assert http_client.get_model_config("pair", "1") == rest
    assert httpx.get(f"{server.url}/v2/models/pair/versions/2/config").status_code == 404
    assert httpx.get(f"{server.url}/v2/models/nope/config").status_code == 404
    assert status_of(client.get_model_config, "pair", "2")[0] == grpc.StatusCode.NOT_FOUND


def infer_grpc(client: triton.InferenceServerClient, rows: np.ndarray) -> None:
    tensor = triton.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    client.infer("linear", [tensor])


def infer_http(client: triton_http.InferenceServerClient, rows: np.ndarray) -> None:
    tensor = triton_http.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=True)
    client.infer("linear", [tensor])


def test_statistics_count_exactly_the_requests_sent(
    client: triton.InferenceServerClient, http_client: triton_http.InferenceServerClient
) -> None:
    """One after another, so each request is its own batch: 4 of 2 rows over gRPC, 3 of 1 row over REST, 1 failure."""
    for _ in range(4):
        infer_grpc(client, ROWS)
    for _ in range(3):
        infer_http(http_client, ROWS[:1])
    status, _ = status_of(infer_grpc, client, np.zeros((1, 5), np.float32))
    assert status == grpc.StatusCode.INVALID_ARGUMENT

    (stats,) = client.get_inference_statistics("linear").model_stats
    assert (stats.name, stats.version) == ("linear", "1")
    assert stats.inference_count == 11 and stats.execution_count == 7 and stats.last_inference > 0
    inference = stats.inference_stats
    assert (inference.success.count, inference.fail.count) == (7, 1)
    assert inference.queue.count == 7 and inference.compute_infer.count == 7
    assert inference.success.ns > inference.compute_infer.ns > 0 and inference.fail.ns > 0
    assert {b.batch_size: b.compute_infer.count for b in stats.batch_stats} == {1: 3, 2: 4}
    assert sum(b.compute_infer.ns for b in stats.batch_stats) == inference.compute_infer.ns

    rest = http_client.get_inference_statistics("linear")["model_stats"][0]
    assert rest["inference_count"] == 11 and rest["execution_count"] == 7
    assert rest["inference_stats"]["success"]["count"] == 7 and rest["inference_stats"]["fail"]["count"] == 1
    assert rest["inference_stats"]["queue"]["ns"] == inference.queue.ns  # the same counters, not a copy
    assert http_client.get_inference_statistics("linear", "1") == http_client.get_inference_statistics("linear")

    every = http_client.get_inference_statistics()["model_stats"]
    assert [s["name"] for s in every] == ["linear", "pair"]
    assert every[1]["inference_count"] == 0 and every[1]["batch_stats"] == []
    assert [s.name for s in client.get_inference_statistics().model_stats] == ["linear", "pair"]
    assert status_of(client.get_inference_statistics, "linear", "2")[0] == grpc.StatusCode.NOT_FOUND


def ready_models(server: RunningServer) -> list[str]:
    """RepositoryIndex with `ready` set, which tritonclient does not send: the message built by hand."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/RepositoryIndex")
        raw = call(triton.service_pb2.RepositoryIndexRequest(ready=True).SerializeToString(), timeout=10)
    return [m.name for m in triton.service_pb2.RepositoryIndexResponse.FromString(raw).models]


def test_repository_index_load_and_unload_over_grpc(
    server: RunningServer, client: triton.InferenceServerClient
) -> None:
    index = client.get_model_repository_index().models
    assert [(m.name, m.version, m.state) for m in index] == [("linear", "1", "READY"), ("pair", "1", "READY")]
    try:
        client.unload_model("pair", unload_dependents=True)
        assert not client.is_model_ready("pair")
        entry = next(m for m in client.get_model_repository_index().models if m.name == "pair")
        assert (entry.state, entry.reason) == ("UNAVAILABLE", "unloaded")
        assert ready_models(server) == ["linear"]
        status, text = status_of(client.get_model_metadata, "pair")
        assert status == grpc.StatusCode.UNAVAILABLE and "unloaded through the repository API" in text
    finally:
        client.load_model("pair")
    assert client.is_model_ready("pair")
    status, text = status_of(client.load_model, "pair", config='{"max_batch_size": 2}')
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "unsupported parameter(s) ['config']" in text
    assert status_of(client.load_model, "nope")[0] == grpc.StatusCode.NOT_FOUND
    status, text = status_of(client.load_model, "../etc")
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "invalid model name" in text

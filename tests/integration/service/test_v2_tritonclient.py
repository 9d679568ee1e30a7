"""The Open Inference Protocol v2 against a real server through the official tritonclient, unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support.server import DEMO_REPOSITORY, RunningServer
from tests.support.v2_helpers import ROWS, native_outputs


@pytest.fixture
def triton_client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def test_tritonclient_health_and_metadata(triton_client: triton.InferenceServerClient) -> None:
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready("linear")
    assert triton_client.is_model_ready("linear", "2")
    assert not triton_client.is_model_ready("linear", "1")  # on disk, but version 2 is the one served
    server = triton_client.get_server_metadata()
    assert server["name"] == "sigmoid-serve" and {"binary_tensor_data", "model_repository"} <= set(server["extensions"])
    metadata = triton_client.get_model_metadata("pair")
    assert metadata["name"] == "pair" and metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [
        {"name": "numbers", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "tokens", "datatype": "INT64", "shape": [-1, 5]},
    ]
    assert metadata["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "logits", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "predictions", "datatype": "BOOL", "shape": [-1, 2]},
    ]
    linear = triton_client.get_model_metadata("linear", "2")
    assert orjson.loads(linear["parameters"]["labels"]) == ["a", "b", "c"]
    assert orjson.loads(linear["parameters"]["thresholds"]) == [0.5, 0.3, 0.9]


@pytest.mark.parametrize("binary_inputs", [False, True], ids=["json inputs", "binary inputs"])
@pytest.mark.parametrize(
    "binary_outputs", [None, False, True], ids=["default outputs", "json outputs", "binary outputs"]
)
def test_tritonclient_infer_equals_the_native_api(
    triton_client: triton.InferenceServerClient,
    client: httpx.Client,
    binary_inputs: bool,
    binary_outputs: bool | None,
) -> None:
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=binary_inputs)
    outputs = None
    if binary_outputs is not None:
        outputs = [triton.InferRequestedOutput(n, binary_data=binary_outputs) for n in ("probabilities", "predictions")]
    result = triton_client.infer("linear", [tensor], outputs=outputs, request_id="req-7")
    expected_probabilities, expected_multi_hot = native_outputs(client, "linear", ROWS.tolist())
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (5, 3)
    assert np.array_equal(probabilities, expected_probabilities)  # bit-for-bit, not within a tolerance
    assert np.array_equal(result.as_numpy("predictions"), expected_multi_hot)
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_name"] == "linear" and response["model_version"] == "2"
    is_binary = binary_outputs is not False  # tritonclient asks for binary when no outputs are named
    assert all(("data" in o) != is_binary for o in response["outputs"])


def test_tritonclient_two_inputs_and_threshold(
    triton_client: triton.InferenceServerClient, client: httpx.Client
) -> None:
    numbers = np.array([[1, 2, 3], [0, 0, 0]], np.float32)
    tokens = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, 9]], np.int64)
    inputs = [triton.InferInput("numbers", [2, 3], "FP32"), triton.InferInput("tokens", [2, 5], "INT64")]
    inputs[0].set_data_from_numpy(numbers, binary_data=True)
    inputs[1].set_data_from_numpy(tokens, binary_data=False)
    result = triton_client.infer("pair", inputs, parameters={"threshold": 0.2})
    instances = [{"numbers": n, "tokens": t} for n, t in zip(numbers.tolist(), tokens.tolist(), strict=True)]
    expected_probabilities, expected_multi_hot = native_outputs(client, "pair", instances, threshold=0.2)
    assert np.array_equal(result.as_numpy("probabilities"), expected_probabilities)
    assert np.array_equal(result.as_numpy("predictions"), expected_multi_hot)


def test_tritonclient_errors_carry_the_message(triton_client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("features", [1, 4], "FP32")
    tensor.set_data_from_numpy(ROWS[:1])
    with pytest.raises(InferenceServerException, match="unknown output 'scores'"):
        triton_client.infer("linear", [tensor], outputs=[triton.InferRequestedOutput("scores")])
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        triton_client.get_model_metadata("nope")


@pytest.mark.smoke
def test_demo_model_through_tritonclient(triton_client: triton.InferenceServerClient, client: httpx.Client) -> None:
    """The shipped digits model, binary both ways: the labels the exporter recorded for its examples."""
    examples = orjson.loads((DEMO_REPOSITORY / "digits" / "examples.json").read_bytes())
    pixels = np.array(examples["instances"], np.float32)
    tensor = triton.InferInput("pixels", list(pixels.shape), "FP32")
    tensor.set_data_from_numpy(pixels, binary_data=True)
    outputs = [triton.InferRequestedOutput(n, binary_data=True) for n in ("probabilities", "predictions")]
    result = triton_client.infer("digits", [tensor], outputs=outputs)
    labels = orjson.loads(triton_client.get_model_metadata("digits")["parameters"]["labels"])
    predictions = result.as_numpy("predictions")
    positives = [[label for label, hot in zip(labels, row, strict=True) if hot] for row in predictions]
    assert positives == examples["labels"]
    expected_probabilities, _ = native_outputs(client, "digits", examples["instances"])
    assert np.array_equal(result.as_numpy("probabilities"), expected_probabilities)

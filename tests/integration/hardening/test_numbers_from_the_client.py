"""Numbers a client writes into paths and headers are bounded before they are parsed.

Python refuses to parse integers of more than 4,300 digits (a guard against quadratic-time parsing), so a
5,000-digit version or header length must be refused by its size, with a 400, before `int()` sees it.
"""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc

from tests.support.grpc_helpers import status_of
from tests.support.server import RunningServer

INT64_MAX = 2**63 - 1
HUGE = "9" * 5000
TOO_LARGE = {"5000 digits": HUGE, "2**63": str(INT64_MAX + 1), "20 digits": "1" + "0" * 19, "5000 zeros": "0" * 5000}
ROW = [0.1, 0.2, 0.3, 0.4]
V2_JSON = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}

VERSIONED = {
    # (method, path with {v}, JSON body)
    "native predict": ("POST", "/models/linear/versions/{v}/predict", {"instances": [ROW]}),
    "v2 infer": ("POST", "/v2/models/linear/versions/{v}/infer", V2_JSON),
    "v2 metadata": ("GET", "/v2/models/linear/versions/{v}", None),
    "v2 ready": ("GET", "/v2/models/linear/versions/{v}/ready", None),
    "tfserving predict": ("POST", "/v1/models/linear/versions/{v}:predict", {"instances": [ROW]}),
    "tfserving status": ("GET", "/v1/models/linear/versions/{v}", None),
    "tfserving metadata": ("GET", "/v1/models/linear/versions/{v}/metadata", None),
}


@pytest.mark.parametrize("version", TOO_LARGE.values(), ids=TOO_LARGE.keys())
@pytest.mark.parametrize(("method", "path", "body"), VERSIONED.values(), ids=VERSIONED.keys())
def test_a_version_past_int64_or_zero_is_a_400(
    client: httpx.Client, method: str, path: str, body: dict, version: str
) -> None:
    response = client.request(method, path.format(v=version), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "version" in error and len(error) < 200  # the message does not echo 5,000 digits back


@pytest.mark.parametrize(("method", "path", "body"), VERSIONED.values(), ids=VERSIONED.keys())
def test_the_largest_int64_version_is_merely_not_found(
    client: httpx.Client, method: str, path: str, body: dict
) -> None:
    response = client.request(method, path.format(v=INT64_MAX), json=body)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("length", [HUGE, "1" + "0" * 19, str(2**64)], ids=["5000 digits", "20 digits", "2**64"])
def test_a_huge_inference_header_content_length_is_a_400(client: httpx.Client, length: str) -> None:
    headers = {"content-type": "application/octet-stream", "inference-header-content-length": length}
    response = client.post("/v2/models/linear/infer", content=b'{"inputs": []}', headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "Inference-Header-Content-Length" in error and len(error) < 200
    assert client.post("/v2/models/linear/infer", json=V2_JSON).status_code == 200


GRPC_CALLS = {  # tritonclient.grpc call with a version, as the fuzzing of the gRPC port found them
    "ModelInfer": lambda client, v: client.infer("linear", [grpc_features()], model_version=v),
    "ModelMetadata": lambda client, v: client.get_model_metadata("linear", model_version=v),
    "ModelConfig": lambda client, v: client.get_model_config("linear", model_version=v),
    "ModelStatistics": lambda client, v: client.get_inference_statistics("linear", model_version=v),
    "ModelReady": lambda client, v: client.is_model_ready("linear", model_version=v),
}


def grpc_features() -> triton_grpc.InferInput:
    tensor = triton_grpc.InferInput("features", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.array([ROW], np.float32))
    return tensor


@pytest.mark.parametrize("version", TOO_LARGE.values(), ids=TOO_LARGE.keys())
@pytest.mark.parametrize("call", GRPC_CALLS.values(), ids=GRPC_CALLS.keys())
def test_a_grpc_version_past_int64_or_zero_is_invalid_argument(server: RunningServer, call, version: str) -> None:
    """A 5,000-digit model_version once answered INTERNAL (int() refused it) on every gRPC model call."""
    client = triton_grpc.InferenceServerClient(server.grpc_target)
    try:
        code, message = status_of(call, client, version)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, message
        assert "version" in message and len(message) < 200
        assert client.infer("linear", [grpc_features()]).as_numpy("probabilities").shape == (1, 3)
    finally:
        client.close()

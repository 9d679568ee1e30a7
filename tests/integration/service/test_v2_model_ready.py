"""v2 model readiness on a real server: a model or version that is not ready answers 400 with `ready: false` and
the reason (Triton's answer; the Open Inference Protocol asks for a 4xx, and a 503 reads as a server error to
schemathesis and to load balancers), a model or version the repository does not hold answers 404, the OpenAPI
document says both, and gRPC ModelReady agrees (OK with ready=false, NOT_FOUND)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import tritonclient.grpc as triton
import tritonclient.http as triton_http

from tests.support.grpc_helpers import grpc_client, status_of
from tests.support.onnx_models import linear_model
from tests.support.repository_files import publish_corrupt
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def half_ready(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """linear serves version 2 (version 1 is on disk too); broken's only version cannot load."""
    root: Path = tmp_path_factory.mktemp("model_ready")
    linear_model(root / "linear" / "1" / "model.onnx", seed=1)
    linear_model(root / "linear" / "2" / "model.onnx", seed=2)
    publish_corrupt(root, "broken", 1)
    with RunningServer({"MODEL_REPOSITORY": str(root)}, wait_ready=False) as running:
        running.wait_until("/v2/models/linear/ready")  # models load in name order: broken has failed by now
        yield running


@pytest.fixture(scope="module")
def http(half_ready: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=half_ready.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def rpc(half_ready: RunningServer) -> Iterator[triton.InferenceServerClient]:
    yield from grpc_client(half_ready)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/v2/models/broken/ready", "'broken' is not loaded"),
        ("/v2/models/broken/versions/1/ready", "'broken' is not loaded"),
        ("/v2/models/linear/versions/1/ready", "serves version 2, not 1"),
    ],
)
def test_not_ready_is_a_400_that_says_why(http: httpx.Client, path: str, reason: str) -> None:
    response = http.get(path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ready"] is False and reason in body["error"]


@pytest.mark.parametrize("path", ["/v2/models/nope/ready", "/v2/models/nope/versions/1/ready"])
def test_an_unknown_model_or_version_is_a_404(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404 and "nope" in response.json()["error"]
    assert http.get("/v2/models/linear/versions/3/ready").status_code == 404


def test_ready_is_a_200(http: httpx.Client) -> None:
    assert http.get("/v2/models/linear/ready").json() == {"name": "linear", "ready": True}
    assert http.get("/v2/models/linear/versions/2/ready").status_code == 200


def test_tritonclient_over_rest_and_grpc_agree(half_ready: RunningServer, rpc: triton.InferenceServerClient) -> None:
    rest = triton_http.InferenceServerClient(half_ready.url.removeprefix("http://"))
    cases = [("linear", "", True), ("linear", "2", True), ("linear", "1", False), ("broken", "", False)]
    for name, version, ready in cases:
        assert rest.is_model_ready(name, version) is ready
        assert rpc.is_model_ready(name, version) is ready  # an OK answer with ready=false, not an error
    assert status_of(rpc.is_model_ready, "nope")[0] == grpc.StatusCode.NOT_FOUND
    assert status_of(rpc.is_model_ready, "linear", "3")[0] == grpc.StatusCode.NOT_FOUND
    rest.close()


def test_the_openapi_document_says_400_and_404_not_503(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/v2/models/{name}/ready", "/v2/models/{name}/versions/{version}/ready"):
        responses = paths[path]["get"]["responses"]
        assert {"200", "400", "404"} <= set(responses) and "503" not in responses
        assert "Not ready" in responses["400"]["description"]
        assert responses["400"]["content"]["application/json"]["example"]["ready"] is False


def test_a_draining_server_answers_400_for_its_models(tmp_path: Path) -> None:
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    with RunningServer({"MODEL_REPOSITORY": str(tmp_path), "SHUTDOWN_DELAY_SECONDS": "5"}) as running:
        running.process.send_signal(signal.SIGTERM)
        response = httpx.get(f"{running.url}/v2/models/linear/ready", timeout=5)
        assert response.status_code == 400 and "shutting down" in response.json()["error"]
        assert httpx.get(f"{running.url}/health/ready", timeout=5).status_code == 503  # the server's own: 503

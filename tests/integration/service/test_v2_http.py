"""The Open Inference Protocol v2 over raw HTTP against a real server: shapes, binary bodies, errors, not-ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from service.contract.version import VERSION
from tests.support.onnx_checks import reference
from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer
from tests.support.v2_helpers import ROWS, native_outputs


def infer(client: httpx.Client, body: dict, name: str = "linear") -> httpx.Response:
    return client.post(f"/v2/models/{name}/infer", json=body)


def features(data: object, shape: list[int], datatype: str = "FP32", name: str = "features") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_raw_json_nested_and_flat_data(client: httpx.Client) -> None:
    nested = infer(client, {"inputs": [features(ROWS.tolist(), [5, 4])]})
    flat = infer(client, {"inputs": [features(ROWS.ravel().tolist(), [5, 4])]})
    assert nested.status_code == flat.status_code == 200, nested.text
    assert nested.headers["content-type"] == "application/json"
    assert nested.json() == flat.json()
    body = nested.json()
    assert "id" not in body and body["model_version"] == "2"
    assert [(o["name"], o["datatype"], o["shape"]) for o in body["outputs"]] == [
        ("probabilities", "FP32", [5, 3]),
        ("logits", "FP32", [5, 3]),
        ("predictions", "BOOL", [5, 3]),
    ]
    expected, multi_hot = native_outputs(client, "linear", ROWS.tolist())
    assert np.array_equal(np.array(body["outputs"][0]["data"], np.float32), expected.ravel())
    assert body["outputs"][2]["data"] == multi_hot.ravel().tolist()


def test_raw_output_selection_id_and_threshold(client: httpx.Client) -> None:
    body = {
        "id": "abc",
        "inputs": [features(ROWS.tolist(), [5, 4])],
        "outputs": [{"name": "predictions"}],
        "parameters": {"threshold": {"a": 0.0, "c": 1.0}},
    }
    response = client.post("/v2/models/linear/versions/2/infer", json=body)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["id"] == "abc" and [o["name"] for o in document["outputs"]] == ["predictions"]
    rows = np.array(document["outputs"][0]["data"]).reshape(5, 3)
    assert rows[:, 0].all() and not rows[:, 2].any()
    everything = infer(client, {"inputs": [features(ROWS.tolist(), [5, 4])], "parameters": {"threshold": 0}})
    assert all(everything.json()["outputs"][2]["data"])


def test_raw_binary_request_and_response(client: httpx.Client, repository: Path) -> None:
    header = orjson.dumps(
        {
            "inputs": [{**features(None, [5, 4]), "parameters": {"binary_data_size": ROWS.nbytes}}],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}, {"name": "probabilities"}],
        }
    ).replace(b',"data":null', b"")
    response = client.post(
        "/v2/models/linear/infer",
        content=header + ROWS.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    document = orjson.loads(response.content[:length])
    logits_meta, probabilities_meta = document["outputs"]
    assert logits_meta["parameters"] == {"binary_data_size": 5 * 3 * 4} and "data" not in logits_meta
    logits = np.frombuffer(response.content[length:], np.float32).reshape(5, 3)
    assert len(response.content) == length + logits.nbytes
    probabilities = np.array(probabilities_meta["data"], np.float32).reshape(5, 3)
    expected_probabilities, expected_logits = reference(repository, "linear", 2, ROWS)
    assert np.array_equal(logits, expected_logits) and np.array_equal(probabilities, expected_probabilities)


def binary_body(shape: list[int], size: int, payload: bytes, header_length: str | None = None) -> tuple[bytes, dict]:
    header = orjson.dumps(
        {"inputs": [{"name": "features", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
    )
    return header + payload, {"Inference-Header-Content-Length": header_length or str(len(header))}


GOOD = [features([ROWS[0].tolist()], [1, 4])]
BAD_REQUESTS = [
    # (id, path, JSON body or (bytes, headers), status, words the error must contain)
    (
        "wrong datatype",
        "/v2/models/linear/infer",
        {"inputs": [features([[1, 2, 3, 4]], [1, 4], "INT64")]},
        400,
        "'features' takes datatype FP32, got INT64",
    ),
    (
        "data vs shape",
        "/v2/models/linear/infer",
        {"inputs": [features([1, 2, 3], [1, 4])]},
        400,
        "'features': 'data' holds 3 values but shape [1, 4] needs 4",
    ),
    (
        "shape vs model",
        "/v2/models/linear/infer",
        {"inputs": [features([1, 2, 3], [1, 3])]},
        400,
        "'features' has shape [1, 3]",
    ),
    (
        "text for a numeric input",
        "/v2/models/linear/infer",
        {"inputs": [features(["a"], [1], "BYTES")]},
        400,
        "input 'features' takes datatype FP32, got BYTES",
    ),
    (
        "unknown input",
        "/v2/models/linear/infer",
        {"inputs": [*GOOD, features([1], [1, 1], name="extra")]},
        400,
        "'extra' is not one of its inputs",
    ),
    (
        "missing input",
        "/v2/models/pair/infer",
        {"inputs": [features([1, 2, 3], [1, 3], name="numbers")]},
        400,
        "'tokens' is missing",
    ),
    (
        "unknown output",
        "/v2/models/linear/infer",
        {"inputs": GOOD, "outputs": [{"name": "scores"}]},
        400,
        "unknown output 'scores'",
    ),
    ("bad threshold", "/v2/models/linear/infer", {"inputs": GOOD, "parameters": {"threshold": 2}}, 400, "[0, 1]"),
    ("id not text", "/v2/models/linear/infer", {"inputs": GOOD, "id": 5}, 400, "'id' must be a string"),
    (
        "nan",
        "/v2/models/linear/infer",
        (b'{"inputs": [{"name": "features", "shape": [1, 1], "datatype": "FP32", "data": [NaN]}]}', {}),
        400,
        "not valid JSON",
    ),
    ("unknown model", "/v2/models/nope/infer", {"inputs": GOOD}, 404, "unknown model 'nope'"),
    ("version not served", "/v2/models/linear/versions/1/infer", {"inputs": GOOD}, 404, "version 1"),
    ("bad version", "/v2/models/linear/versions/x/infer", {"inputs": GOOD}, 400, "positive integer"),
    (
        "binary size vs shape",
        "/v2/models/linear/infer",
        binary_body([1, 4], 12, b"\0" * 12),
        400,
        "binary_data_size is 12 bytes but shape [1, 4] of FP32 needs 16",
    ),
    ("binary past end", "/v2/models/linear/infer", binary_body([1, 4], 16, b"\0" * 8), 400, "past the end"),
    ("binary left over", "/v2/models/linear/infer", binary_body([1, 4], 16, b"\0" * 20), 400, "4 bytes after"),
    (
        "bad header length",
        "/v2/models/linear/infer",
        binary_body([1, 4], 16, b"\0" * 16, "ten"),
        400,
        "Inference-Header-Content-Length must be a non-negative integer",
    ),
    (
        "header length too long",
        "/v2/models/linear/infer",
        binary_body([1, 4], 16, b"\0" * 16, "100000"),
        400,
        "Inference-Header-Content-Length is 100000",
    ),
    (
        "binary body too large",
        "/v2/models/linear/infer",
        binary_body([16, 4], 70000, b"\0" * 70000),
        413,
        "MAX_BODY_BYTES",
    ),
    (
        "form content type",
        "/v2/models/linear/infer",
        (b"a=1", {"content-type": "application/x-www-form-urlencoded"}),
        415,
        "application/octet-stream",
    ),
    ("gzip body", "/v2/models/linear/infer", (b"\x1f\x8b", {"content-encoding": "gzip"}), 415, "Content-Encoding"),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests_get_a_clear_error(client: httpx.Client, path: str, body: object, status: int, words: str) -> None:
    if isinstance(body, tuple):
        response = client.post(path, content=body[0], headers=body[1])
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert client.get("/v2/health/ready").status_code == 200


def test_health_and_metadata_endpoints(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/linear/ready").json() == {"name": "linear", "ready": True}
    assert client.get("/v2/models/linear/versions/1/ready").status_code == 400  # on disk, not served
    assert client.get("/v2/models/linear/versions/3/ready").status_code == 404
    assert client.get("/v2/models/nope/ready").status_code == 404
    assert client.get("/v2/models/linear/versions/2").json()["versions"] == ["2"]
    assert client.get("/v2/models/linear/versions/1").status_code == 404
    assert client.get("/v2").json()["version"] == VERSION


@pytest.fixture(scope="module")
def half_ready_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One good model and one that cannot load: live, not ready."""
    root: Path = tmp_path_factory.mktemp("half_ready")
    linear_model(root / "good" / "1" / "model.onnx")
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    running = RunningServer({"MODEL_REPOSITORY": str(root)}, wait_ready=False)
    # Models load in name order: once "good" is ready, "broken" has failed.
    running.wait_until("/v2/models/good/ready")
    yield running
    running.stop()


def test_not_ready_is_not_a_200(half_ready_server: RunningServer) -> None:
    with httpx.Client(base_url=half_ready_server.url, timeout=10) as client:
        assert client.get("/v2/health/live").status_code == 200
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False and "broken" in ready.json()["error"]
        assert client.get("/v2/models/broken/ready").status_code == 400
        # The 400 body is the documented error body too: it says why.
        body = client.get("/v2/models/broken/ready").json()
        assert body["name"] == "broken" and body["ready"] is False and "not loaded" in body["error"]
        not_loaded = client.post("/v2/models/broken/infer", json={"inputs": GOOD})
        assert not_loaded.status_code == 503 and "not loaded" in not_loaded.json()["error"]
        assert client.get("/v2/models/broken").status_code == 503
    tc = triton.InferenceServerClient(half_ready_server.url.removeprefix("http://"))
    assert tc.is_server_live() and not tc.is_server_ready()
    assert tc.is_model_ready("good") and not tc.is_model_ready("broken")
    tc.close()

"""TensorFlow Serving's REST API against a real server: status, metadata, :predict in both formats."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.onnx_checks import reference
from tests.support.server import RunningServer

ROWS = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)


@pytest.mark.smoke
def test_row_format_equals_onnx_runtime(client: httpx.Client, repository: Path) -> None:
    response = client.post("/v1/models/linear:predict", json={"instances": ROWS.tolist()})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3 and set(predictions[0]) == {"probabilities", "logits", "multi_hot"}
    probabilities, logits = reference(repository, "linear", 2, ROWS)
    assert np.array_equal(np.array([p["probabilities"] for p in predictions], np.float32), probabilities)
    assert np.array_equal(np.array([p["logits"] for p in predictions], np.float32), logits)
    thresholds = np.array([0.5, 0.3, 0.9], np.float32)
    assert [p["multi_hot"] for p in predictions] == (probabilities >= thresholds).astype(int).tolist()


def test_columnar_format_and_version_path(client: httpx.Client) -> None:
    rows = client.post("/v1/models/linear:predict", json={"instances": ROWS.tolist()}).json()["predictions"]
    response = client.post(
        "/v1/models/linear/versions/2:predict", json={"inputs": ROWS.tolist(), "signature_name": "serving_default"}
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["probabilities"] == [r["probabilities"] for r in rows]
    assert outputs["logits"] == [r["logits"] for r in rows]
    assert outputs["multi_hot"] == [r["multi_hot"] for r in rows]
    named = client.post("/v1/models/linear:predict", json={"inputs": {"features": ROWS.tolist()}}).json()
    assert named["outputs"] == outputs


def test_two_input_model_and_threshold(client: httpx.Client) -> None:
    instance = {"numbers": [1.0, 2.0, 3.0], "tokens": [1, 2, 3, 4, 5]}
    rows = client.post("/v1/models/pair:predict", json={"instances": [instance] * 2, "threshold": 0.9}).json()
    columns = client.post(
        "/v1/models/pair:predict",
        json={"inputs": {"numbers": [instance["numbers"]] * 2, "tokens": [instance["tokens"]] * 2}, "threshold": 0.9},
    ).json()
    expected = 1 / (1 + np.exp(-(0.5 * 6 - 0.1 * 15)))  # ~0.82: below the 0.9 threshold
    assert rows["predictions"][0]["multi_hot"] == [0, 0] and columns["outputs"]["multi_hot"] == [[0, 0]] * 2
    np.testing.assert_allclose(columns["outputs"]["probabilities"], [[expected] * 2] * 2, atol=1e-6)
    assert rows["predictions"][1]["probabilities"] == columns["outputs"]["probabilities"][1]


def test_status_and_metadata(client: httpx.Client) -> None:
    available = {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert client.get("/v1/models/linear").json() == {"model_version_status": [available]}
    assert client.get("/v1/models/linear/versions/2").json() == {"model_version_status": [available]}
    assert client.get("/v1/models/linear/versions/1").status_code == 404
    assert client.get("/v1/models/nope").status_code == 404
    metadata = client.get("/v1/models/pair/metadata").json()
    assert metadata["model_spec"] == {"name": "pair", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["tokens"]["dtype"] == "DT_INT64"
    assert [d["size"] for d in signature["inputs"]["numbers"]["tensor_shape"]["dim"]] == ["-1", "3"]
    assert {name: o["dtype"] for name, o in signature["outputs"].items()} == {
        "probabilities": "DT_FLOAT",
        "logits": "DT_FLOAT",
        "multi_hot": "DT_UINT8",
    }
    assert metadata["labels"] == ["x", "y"] and metadata["thresholds"] == [0.5, 0.5]
    assert client.get("/v1/models/linear/versions/2/metadata").json()["thresholds"] == [0.5, 0.3, 0.9]


ROW = [0.1, 0.2, 0.3, 0.4]
BAD_REQUESTS = [
    ("both formats", "/v1/models/linear:predict", {"instances": [ROW], "inputs": [ROW]}, 400, "exactly one"),
    ("neither format", "/v1/models/linear:predict", {"threshold": 0.5}, 400, "exactly one"),
    ("unknown field", "/v1/models/linear:predict", {"instances": [ROW], "examples": []}, 400, "['examples']"),
    ("signature", "/v1/models/linear:predict", {"instances": [ROW], "signature_name": "x"}, 400, "signature_name"),
    ("instances not list", "/v1/models/linear:predict", {"instances": 1}, 400, "'instances' must be a list"),
    ("wrong width", "/v1/models/linear:predict", {"instances": [[1, 2]]}, 400, "shape [1, 2]"),
    ("unknown input", "/v1/models/linear:predict", {"inputs": {"pixels": [ROW]}}, 400, "'pixels' is not one"),
    ("rows not objects", "/v1/models/pair:predict", {"instances": [[1, 2, 3]]}, 400, "must be an object"),
    ("columns not object", "/v1/models/pair:predict", {"inputs": [[1, 2, 3]]}, 400, "must be an object"),
    ("bad threshold", "/v1/models/linear:predict", {"instances": [ROW], "threshold": -1}, 400, "[0, 1]"),
    ("other verb", "/v1/models/linear:classify", {"instances": [ROW]}, 400, "':classify' is not supported"),
    ("no verb", "/v1/models/linear", {"instances": [ROW]}, 400, "linear:predict"),
    ("unknown model", "/v1/models/nope:predict", {"instances": [ROW]}, 404, "unknown model 'nope'"),
    ("old version", "/v1/models/linear/versions/1:predict", {"instances": [ROW]}, 404, "version 1"),
    ("bad version", "/v1/models/linear/versions/v2:predict", {"instances": [ROW]}, 400, "positive integer"),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests_get_a_clear_error(client: httpx.Client, path: str, body: dict, status: int, words: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert client.post("/v1/models/linear:predict", json={"instances": [ROW]}).status_code == 200


def test_failed_model_reports_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken" / "3").mkdir(parents=True)
    (tmp_path / "broken" / "3" / "model.onnx").write_bytes(b"garbage")
    running = RunningServer({"MODEL_REPOSITORY": str(tmp_path)}, wait_ready=False)
    try:
        running.wait_until("/v2/health/live")
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for _ in range(600):  # loading takes a moment: poll, bounded
                status = client.get("/v1/models/broken").json()["model_version_status"][0]
                if status["state"] != "LOADING":
                    break
                time.sleep(0.05)
            assert status["version"] == "3" and status["state"] == "END"
            assert status["status"]["error_code"] == "UNKNOWN" and "cannot load" in status["status"]["error_message"]
            assert client.post("/v1/models/broken:predict", json={"instances": [ROW]}).status_code == 503
    finally:
        running.stop()

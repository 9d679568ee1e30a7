"""The native API against a real uvicorn server on loopback and real ONNX Runtime sessions."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.onnx_checks import reference


@pytest.mark.smoke
def test_predict_returns_sigmoid_of_logits_and_multi_hot(client: httpx.Client, repository: Path) -> None:
    rows = np.random.default_rng(7).normal(size=(5, 4)).astype(np.float32)
    response = client.post("/models/linear/predict", json={"instances": rows.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "linear"
    assert body["model_version"] == 2  # the highest version is served
    assert body["labels"] == ["a", "b", "c"]
    expected, _ = reference(repository, "linear", 2, rows)
    thresholds = np.array([0.5, 0.3, 0.9], np.float32)  # version 2's own metadata
    got = np.array([p["probabilities"] for p in body["predictions"]], np.float32)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    for prediction, probabilities in zip(body["predictions"], expected, strict=True):
        multi_hot = (probabilities >= thresholds).astype(int).tolist()
        assert prediction["multi_hot"] == multi_hot
        assert prediction["labels"] == [label for label, hot in zip("abc", multi_hot, strict=True) if hot]


def test_threshold_override_uses_greater_or_equal(client: httpx.Client, repository: Path) -> None:
    rows = np.random.default_rng(3).normal(size=(4, 4)).astype(np.float32)
    expected, _ = reference(repository, "linear", 2, rows)
    exact = float(expected[0, 0])  # a threshold equal to a probability counts as positive
    body = client.post("/models/linear/predict", json={"instances": rows.tolist(), "threshold": exact}).json()
    assert body["predictions"][0]["multi_hot"][0] == 1
    per_label = client.post("/models/linear/predict", json={"instances": rows.tolist(), "threshold": {"c": 0.0}}).json()
    assert all(p["multi_hot"][2] == 1 for p in per_label["predictions"])
    everything = client.post("/models/linear/predict", json={"instances": rows.tolist(), "threshold": 0}).json()
    assert all(p["labels"] == ["a", "b", "c"] for p in everything["predictions"])


def test_two_input_model_takes_objects(client: httpx.Client) -> None:
    instance = {"numbers": [1.0, 2.0, 3.0], "tokens": [1, 2, 3, 4, 5]}
    response = client.post("/models/pair/predict", json={"instances": [instance, instance]})
    assert response.status_code == 200, response.text
    logits = 0.5 * 6 - 0.1 * 15
    for prediction in response.json()["predictions"]:
        np.testing.assert_allclose(prediction["probabilities"], [1 / (1 + np.exp(-logits))] * 2, atol=1e-6)


def test_model_metadata(client: httpx.Client) -> None:
    body = client.get("/models/pair").json()
    assert body["inputs"] == [
        {"name": "numbers", "dtype": "float32", "shape": [-1, 3]},
        {"name": "tokens", "dtype": "int64", "shape": [-1, 5]},
    ]
    assert body["labels"] == ["x", "y"] and body["thresholds"] == [0.5, 0.5]
    assert body["ready"] and body["version"] == 1 and body["versions"] == [1]
    assert client.get("/models/linear").json()["versions"] == [1, 2]
    assert {m["name"] for m in client.get("/models").json()} >= {"linear", "pair"}


def test_explicit_version(client: httpx.Client) -> None:
    ok = client.post("/models/linear/versions/2/predict", json={"instances": [[0, 0, 0, 0]]})
    assert ok.status_code == 200 and ok.json()["model_version"] == 2
    old = client.post("/models/linear/versions/1/predict", json={"instances": [[0, 0, 0, 0]]})
    assert old.status_code == 404 and "version 1" in old.json()["error"]


def test_health(client: httpx.Client) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["models"]["linear"] == 2


ROW = [0.1, 0.2, 0.3, 0.4]
BAD_REQUESTS = [
    # (id, path, body bytes or JSON, headers, status, words the error must contain)
    ("malformed json", "/models/linear/predict", b'{"instances": [[1,2', None, 400, "not valid JSON"),
    ("nan literal", "/models/linear/predict", b'{"instances": [[NaN, 1, 2, 3]]}', None, 400, "not valid JSON"),
    ("not an object", "/models/linear/predict", [ROW], None, 400, "JSON object"),
    ("empty body", "/models/linear/predict", b"", None, 400, "empty body"),
    ("missing instances", "/models/linear/predict", {"rows": [ROW]}, None, 400, "unknown field"),
    ("instances not list", "/models/linear/predict", {"instances": 3}, None, 400, "'instances' must be a list"),
    ("empty batch", "/models/linear/predict", {"instances": []}, None, 400, "empty batch"),
    ("wrong width", "/models/linear/predict", {"instances": [[1, 2, 3]]}, None, 400, "shape [1, 3]"),
    ("wrong rank", "/models/linear/predict", {"instances": [1, 2, 3, 4]}, None, 400, "shape [4]"),
    ("ragged", "/models/linear/predict", {"instances": [ROW, [1, 2]]}, None, 400, "features"),
    ("strings", "/models/linear/predict", {"instances": [["a", "b", "c", "d"]]}, None, 400, "must hold numbers"),
    ("null in a row", "/models/linear/predict", {"instances": [[None, 1, 2, 3]]}, None, 400, "holds null"),
    ("booleans", "/models/linear/predict", {"instances": [[True, False, True, True]]}, None, 400, "must hold numbers"),
    ("huge number", "/models/linear/predict", {"instances": [[1e300, 0, 0, 0]]}, None, 400, "too large"),
    ("over batch limit", "/models/linear/predict", {"instances": [ROW] * 17}, None, 400, "MAX_BATCH_SIZE"),
    ("threshold > 1", "/models/linear/predict", {"instances": [ROW], "threshold": 1.5}, None, 400, "[0, 1]"),
    ("threshold text", "/models/linear/predict", {"instances": [ROW], "threshold": "x"}, None, 400, "threshold"),
    ("unknown label", "/models/linear/predict", {"instances": [ROW], "threshold": {"zz": 0.1}}, None, 400, "'zz'"),
    ("unknown model", "/models/nope/predict", {"instances": [ROW]}, None, 404, "unknown model 'nope'"),
    ("bad model name", "/models/bad%20name/predict", {"instances": [ROW]}, None, 400, "invalid model name"),
    (
        "fractional ids",
        "/models/pair/predict",
        {"instances": [{"numbers": [1, 2, 3], "tokens": [0.5] * 5}]},
        None,
        400,
        "integers",
    ),
    ("missing input", "/models/pair/predict", {"instances": [{"numbers": [1, 2, 3]}]}, None, 400, "tokens"),
    ("rows not objects", "/models/pair/predict", {"instances": [[1, 2, 3]]}, None, 400, "must be an object"),
    (
        "too large body",
        "/models/linear/predict",
        b'{"instances": [' + b"[0.1,0.2,0.3,0.4]," * 5000 + b"[0,0,0,0]]}",
        None,
        413,
        "MAX_BODY_BYTES",
    ),
    (
        "form content type",
        "/models/linear/predict",
        b"instances=1",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "application/json",
    ),
    ("deep nesting", "/models/linear/predict", b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", None, 400, "JSON"),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[c[0] for c in BAD_REQUESTS],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_stays_healthy(
    client: httpx.Client, path: str, body: object, headers: dict | None, status: int, words: str
) -> None:
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers=headers or {"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert client.get("/health/ready").status_code == 200
    assert client.post("/models/linear/predict", json={"instances": [ROW]}).status_code == 200

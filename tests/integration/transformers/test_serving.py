"""Exported KerasHub classifiers served from raw strings by a real server, on every protocol (native, v2 BYTES in JSON,
in binary with tritonclient.http, gRPC with tritonclient.grpc, TF Serving): each answer within 1e-5 of
sigmoid(task.predict(strings)), an empty text answered as Keras answers it ([CLS] [SEP]), MAX_TEXT_CHARS enforced,
and concurrent requests of very different lengths run in shared ONNX Runtime calls, padded to the batch's longest.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests.support.server import RunningServer, client_for, serving
from tests.support.text_requests import native, native_probabilities, text_tensor
from tests.support.transformer_models import FAMILIES, MIXED_LENGTHS, PROBE_TEXTS, BuiltTransformers

TOLERANCE = 1e-5
MAX_TEXT_CHARS = 400


@pytest.fixture(scope="module")
def server(built_transformers: BuiltTransformers) -> Iterator[RunningServer]:
    yield from serving(
        {
            "MODEL_REPOSITORY": str(built_transformers.repository),
            "MAX_TEXT_CHARS": str(MAX_TEXT_CHARS),
            "MAX_BATCH_DELAY_MS": "30",  # room for concurrent requests to share ONNX Runtime calls
        }
    )


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(server)


def expected(built: BuiltTransformers, model: str, texts: tuple[str, ...] = PROBE_TEXTS) -> np.ndarray:
    return built.keras_probabilities[model][[PROBE_TEXTS.index(text) for text in texts]]


@pytest.mark.parametrize("model", [*FAMILIES, "bert_sigmoid"])
def test_native_answers_as_keras(client: httpx.Client, built_transformers: BuiltTransformers, model: str) -> None:
    probabilities = native_probabilities(client, model, list(PROBE_TEXTS))
    assert np.abs(probabilities - expected(built_transformers, model)).max() < TOLERANCE
    assert native(client, model, [{"text": ""}])["predictions"][0]["probabilities"] == pytest.approx(
        list(expected(built_transformers, model, ("",))[0]), abs=TOLERANCE
    )


def test_every_protocol_answers_as_keras(server: RunningServer, client: httpx.Client, built_transformers) -> None:
    texts, want = list(PROBE_TEXTS), expected(built_transformers, "roberta")
    v2 = client.post(
        "/v2/models/roberta/infer",
        json={"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]},
    ).json()
    answers = {"v2 json": np.array(v2["outputs"][0]["data"]).reshape(len(texts), -1)}
    http = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        result = http.infer("roberta", [text_tensor(triton_http, texts)])
        answers["v2 binary"] = result.as_numpy("probabilities")
    finally:
        http.close()
    grpc = triton_grpc.InferenceServerClient(server.grpc_target)
    try:
        answers["grpc"] = grpc.infer("roberta", [text_tensor(triton_grpc, texts)]).as_numpy("probabilities")
    finally:
        grpc.close()
    tfs = client.post("/v1/models/roberta:predict", json={"instances": texts}).json()["predictions"]
    answers["tf serving"] = np.array([row["probabilities"] for row in tfs])
    for protocol, answer in answers.items():
        assert np.abs(answer - want).max() < TOLERANCE, protocol


def test_max_text_chars_holds(client: httpx.Client) -> None:
    response = client.post("/models/bert/predict", json={"instances": ["x" * (MAX_TEXT_CHARS + 1)]})
    assert response.status_code == 400 and "MAX_TEXT_CHARS" in response.json()["error"]
    assert client.get("/health/ready").status_code == 200


def executions(client: httpx.Client, model: str) -> tuple[int, int]:
    stats = client.get(f"/v2/models/{model}/stats").json()["model_stats"][0]
    return stats["execution_count"], stats["inference_count"]


@pytest.mark.parametrize("model", ["bert", "albert"])
def test_batch_mates_of_very_different_lengths(server, client, built_transformers, model: str) -> None:
    """One text per request, sent at once: the batcher runs them together, padded to the longest of the batch (not
    to sequence_length, and not refused for their different widths), and each answer is Keras's at full length."""
    requests = [MIXED_LENGTHS[i % len(MIXED_LENGTHS)] for i in range(72)]
    want = {text: expected(built_transformers, model, (text,))[0] for text in MIXED_LENGTHS}
    before = executions(client, model)
    limits = httpx.Limits(max_connections=24)
    with httpx.Client(base_url=server.url, timeout=30, limits=limits) as concurrent, ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda text: native_probabilities(concurrent, model, [text])[0], requests))
    after = executions(client, model)
    assert after[1] - before[1] == len(requests)
    assert after[0] - before[0] < len(requests)  # shared calls: requests of different widths merged
    for text, answer in zip(requests, answers, strict=True):
        assert np.abs(answer - want[text]).max() < TOLERANCE, text

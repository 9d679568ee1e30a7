"""Every TextVectorization configuration, trained in Keras and exported through the CLI (real tf2onnx), served by the
real service and asked the tricky corpus over every protocol: native JSON, v2 JSON, v2 binary (tritonclient.http),
v2 gRPC (tritonclient.grpc), TF Serving rows and columns. Every probability is within 1e-5 of
sigmoid(keras_model(text)) with the text alone; a text Keras answers with NaN (a variable-length model given no
token) gets a 400 naming it on every protocol, never NaN.

One server serves every exported model (exports are shared with test_text_models.py through `text_exports`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.support.server import RunningServer, serving
from tests.support.text_models import CORPUS, LABELS, TextConfig, config_parameters, keras_inputs, keras_probabilities

keras = pytest.importorskip("keras")

TOLERANCE = 1e-5
NO_TOKEN = "has no token after standardization"
PROTOCOLS = ["native", "v2 JSON", "v2 binary", "gRPC", "TF Serving rows", "TF Serving columns"]


@pytest.fixture(scope="module")
def text_server(text_exports, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    repository = tmp_path_factory.mktemp("served_text_models")
    for name, exported in text_exports.items():
        (repository / name / "1").mkdir(parents=True)
        shutil.copy(exported.onnx, repository / name / "1" / "model.onnx")
    yield from serving({"MODEL_REPOSITORY": str(repository), "MAX_BATCH_SIZE": "256"})


@pytest.fixture(scope="module")
def clients(text_server: RunningServer) -> Iterator[dict[str, Any]]:
    http = httpx.Client(base_url=text_server.url, timeout=30)
    http_triton = triton_http.InferenceServerClient(text_server.url.removeprefix("http://"))
    grpc_triton = triton_grpc.InferenceServerClient(text_server.grpc_target)
    yield {"http": http, "http_triton": http_triton, "grpc_triton": grpc_triton}
    http.close()
    http_triton.close()
    grpc_triton.close()


def columns(config: TextConfig, texts: list[str]) -> dict[str, np.ndarray]:
    """The inputs clients send, by name, with the values the Keras reference reads (text, and for the mixed
    model the seeded numbers and countries)."""
    inputs = keras_inputs(config, texts)
    named = {"text": np.asarray(texts, dtype=object).reshape(len(texts), *config.string_shape)}
    if config.mixed:
        named["amount"] = inputs[1]
        named["country"] = inputs[2]
    return named


def jsonable(array: np.ndarray) -> list:
    return array.tolist()


def ask(protocol: str, clients: dict[str, Any], model: str, named: dict[str, np.ndarray]) -> np.ndarray | str:
    """Probabilities [rows, labels] as float32, or the error message of a 400 / INVALID_ARGUMENT."""
    http: httpx.Client = clients["http"]
    rows = len(next(iter(named.values())))
    if protocol == "native" or protocol == "TF Serving rows":
        if len(named) == 1:
            instances = jsonable(named["text"])  # a string per row, or a list holding it for shape (1,)
        else:
            instances = [{name: jsonable(values[i]) for name, values in named.items()} for i in range(rows)]
        path = f"/models/{model}/predict" if protocol == "native" else f"/v1/models/{model}:predict"
        response = http.post(path, json={"instances": instances})
        if response.status_code == 400:
            return response.json()["error"]
        assert response.status_code == 200, response.text
        return np.array([row["probabilities"] for row in response.json()["predictions"]], np.float32)
    if protocol == "TF Serving columns":
        response = http.post(
            f"/v1/models/{model}:predict", json={"inputs": {name: jsonable(v) for name, v in named.items()}}
        )
        if response.status_code == 400:
            return response.json()["error"]
        assert response.status_code == 200, response.text
        return np.array(response.json()["outputs"]["probabilities"], np.float32)
    if protocol == "v2 JSON":
        tensors = [
            {
                "name": name,
                "shape": list(values.shape),
                "datatype": "BYTES" if values.dtype == object else "FP32",
                "data": jsonable(values.ravel()),
            }
            for name, values in named.items()
        ]
        response = http.post(
            f"/v2/models/{model}/infer", json={"inputs": tensors, "outputs": [{"name": "probabilities"}]}
        )
        if response.status_code == 400:
            return response.json()["error"]
        assert response.status_code == 200, response.text
        (output,) = response.json()["outputs"]
        return np.array(output["data"], np.float32).reshape(output["shape"])
    binary_rest = protocol == "v2 binary"
    module, client = (triton_http, clients["http_triton"]) if binary_rest else (triton_grpc, clients["grpc_triton"])
    tensors = []
    for name, values in named.items():
        tensor = module.InferInput(name, list(values.shape), "BYTES" if values.dtype == object else "FP32")
        if module is triton_http:
            tensor.set_data_from_numpy(values, binary_data=True)
        else:
            tensor.set_data_from_numpy(values)
        tensors.append(tensor)
    outputs = [module.InferRequestedOutput("probabilities", **({"binary_data": True} if module is triton_http else {}))]
    try:
        return client.infer(model, tensors, outputs=outputs).as_numpy("probabilities")
    except InferenceServerException as failure:
        assert failure.status() in ("400", str(grpc.StatusCode.INVALID_ARGUMENT)), failure
        return failure.message()


@pytest.mark.parametrize("config", config_parameters())
def test_served_text_matches_keras_on_every_protocol(config: TextConfig, text_exports, clients) -> None:
    model = keras.models.load_model(text_exports[config.name].source)
    expected = keras_probabilities(model, config, CORPUS)
    answerable = [i for i in range(len(CORPUS)) if np.all(np.isfinite(expected[i]))]
    unanswerable = [i for i in range(len(CORPUS)) if i not in answerable]
    # Only a variable-length model (Keras pads a batch to its longest text) has texts Keras gives NaN for.
    assert not unanswerable or config.variable_length, [CORPUS[i] for i in unanswerable]
    named = columns(config, CORPUS)
    errors = {}
    for protocol in PROTOCOLS:
        served = ask(protocol, clients, config.name, {name: values[answerable] for name, values in named.items()})
        assert not isinstance(served, str), f"{protocol}: {served}"
        assert served.shape == (len(answerable), len(LABELS))
        errors[protocol] = float(np.max(np.abs(served.astype(np.float64) - expected[answerable])))
        for i in unanswerable:  # each alone: one text without an answer refuses its whole request
            refused = ask(protocol, clients, config.name, {name: values[i : i + 1] for name, values in named.items()})
            assert isinstance(refused, str) and NO_TOKEN in refused, f"{protocol}, {CORPUS[i]!r}: {refused}"
    assert max(errors.values()) <= TOLERANCE, errors
    print(
        f"{config.name}: {len(answerable)} texts, {len(unanswerable)} refused, max abs error {max(errors.values()):.1e}"
    )


def _variable_length() -> list:
    return [p for p in config_parameters() if p.values[0].variable_length]


@pytest.mark.parametrize("config", _variable_length())
def test_a_keras_text_model_answers_a_text_as_alone_whatever_its_batch_mates(config, text_exports, clients) -> None:
    """The trap Keras sets (a batch padded to its longest text moves the others' answers): the served answer of a
    text is the same, bit for bit, alone and among the corpus (from one to 240 tokens) in one request."""
    model = keras.models.load_model(text_exports[config.name].source)
    expected = keras_probabilities(model, config, CORPUS)
    texts = [text for i, text in enumerate(CORPUS) if np.all(np.isfinite(expected[i]))]
    together = ask("native", clients, config.name, columns(config, texts))
    for position, text in enumerate(texts):
        alone = ask("native", clients, config.name, columns(config, [text]))
        assert np.array_equal(alone[0], together[position]), text
    padded = np.asarray(model([np.asarray(texts, dtype=object).reshape(len(texts), *config.string_shape)]))
    keras_together = 1 / (1 + np.exp(-padded.astype(np.float64)))
    # Keras itself, given the texts together, moves some answers by far more than the tolerance.
    assert np.max(np.abs(keras_together - expected[np.all(np.isfinite(expected), axis=1)])) > 100 * TOLERANCE

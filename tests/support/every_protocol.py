"""A model with one text input asked the same texts over every protocol, as its clients would: native JSON (an
object per row, under the input's name or an alias), v2 JSON, v2 binary (tritonclient.http), gRPC
(tritonclient.grpc), TF Serving rows and columns. Each answer is the probabilities [texts, labels] as float64, or the
message of the 400 / INVALID_ARGUMENT the server gave."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.support.server import RunningServer

PROTOCOLS = ("native", "v2 JSON", "v2 binary", "gRPC", "TF Serving rows", "TF Serving columns")
Answer = np.ndarray | str


@dataclass
class Clients:
    http: httpx.Client
    http_triton: triton_http.InferenceServerClient
    grpc_triton: triton_grpc.InferenceServerClient


def clients_for(server: RunningServer) -> Iterator[Clients]:
    """For fixtures: `yield from clients_for(server)`, closed after."""
    clients = Clients(
        httpx.Client(base_url=server.url, timeout=30),
        triton_http.InferenceServerClient(server.url.removeprefix("http://")),
        triton_grpc.InferenceServerClient(server.grpc_target),
    )
    yield clients
    clients.http.close()
    clients.http_triton.close()
    clients.grpc_triton.close()


def ask_all(clients: Clients, model: str, name: str, texts: list[str]) -> dict[str, Answer]:
    return {protocol: ask(protocol, clients, model, name, texts) for protocol in PROTOCOLS}


def ask(protocol: str, clients: Clients, model: str, name: str, texts: list[str]) -> Answer:
    if protocol in ("native", "TF Serving rows"):
        path = f"/models/{model}/predict" if protocol == "native" else f"/v1/models/{model}:predict"
        return _json(clients.http.post(path, json={"instances": [{name: text} for text in texts]}), "predictions")
    if protocol == "TF Serving columns":
        return _json(clients.http.post(f"/v1/models/{model}:predict", json={"inputs": {name: texts}}), "outputs")
    if protocol == "v2 JSON":
        tensor = {"name": name, "shape": [len(texts)], "datatype": "BYTES", "data": texts}
        body = {"inputs": [tensor], "outputs": [{"name": "probabilities"}]}
        return _json(clients.http.post(f"/v2/models/{model}/infer", json=body), "v2")
    module, client = (
        (triton_http, clients.http_triton) if protocol == "v2 binary" else (triton_grpc, clients.grpc_triton)
    )
    tensor = module.InferInput(name, [len(texts)], "BYTES")
    values = np.array(texts, dtype=object)
    tensor.set_data_from_numpy(values, **({"binary_data": True} if module is triton_http else {}))
    try:
        return client.infer(model, [tensor]).as_numpy("probabilities").astype(np.float64)
    except InferenceServerException as failure:
        assert failure.status() in ("400", str(grpc.StatusCode.INVALID_ARGUMENT)), failure
        return failure.message()


def _json(response: httpx.Response, shape: str) -> Answer:
    if response.status_code == 400:
        return response.json()["error"]
    assert response.status_code == 200, response.text
    body = response.json()
    if shape == "predictions":
        return np.array([row["probabilities"] for row in body["predictions"]], np.float64)
    if shape == "outputs":
        return np.array(body["outputs"]["probabilities"], np.float64)
    (output,) = body["outputs"]
    return np.array(output["data"], np.float64).reshape(output["shape"])

"""Asking a text model the ways its clients do, and the answer each row must get (its text step and ONNX Runtime on
that row alone): the helpers of tests/integration/service/test_text_api.py."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import tritonclient.http as triton_http

from service.contract.text.keras_layers import text_steps_from_metadata


def alone(repository: Path, model: str, texts: list[str], amounts: np.ndarray | None = None) -> np.ndarray:
    """Each row through the model's text step and ONNX Runtime on its own: the answer a row must get."""
    session = ort.InferenceSession(str(repository / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (step,) = text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    rows = []
    for i, text in enumerate(texts):
        feeds = {step.feeds: step.transform([text])}
        if amounts is not None:
            feeds["amount"] = amounts[i : i + 1]
        rows.append(session.run(["probabilities"], feeds)[0][0])
    return np.array(rows)


def native(client: httpx.Client, model: str, instances: list, status: int = 200) -> dict:
    response = client.post(f"/models/{model}/predict", json={"instances": instances})
    assert response.status_code == status, response.text
    return response.json()


def native_probabilities(client: httpx.Client, model: str, instances: list) -> np.ndarray:
    return np.array([p["probabilities"] for p in native(client, model, instances)["predictions"]], np.float32)


def v2_json(client: httpx.Client, model: str, inputs: list[dict], status: int = 200) -> dict:
    response = client.post(f"/v2/models/{model}/infer", json={"inputs": inputs})
    assert response.status_code == status, response.text
    return response.json()


def v2_binary(client: httpx.Client, model: str, name: str, shape: list[int], payload: bytes) -> httpx.Response:
    """A binary BYTES tensor sent as written, for payloads tritonclient would never build."""
    header = {
        "inputs": [
            {"name": name, "shape": shape, "datatype": "BYTES", "parameters": {"binary_data_size": len(payload)}}
        ]
    }
    head = json.dumps(header).encode()
    return client.post(
        f"/v2/models/{model}/infer",
        content=head + payload,
        headers={"Inference-Header-Content-Length": str(len(head)), "content-type": "application/octet-stream"},
    )


def serialized(*elements: bytes) -> bytes:
    """Triton's BYTES serialization: each element a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


def text_tensor(module, texts: list[str], shape: list[int] | None = None, binary: bool = True):
    tensor = module.InferInput("text", shape or [len(texts)], "BYTES")
    data = np.array(texts, dtype=object).reshape(shape or [len(texts)])
    if module is triton_http:
        tensor.set_data_from_numpy(data, binary_data=binary)
    else:
        tensor.set_data_from_numpy(data)
    return tensor

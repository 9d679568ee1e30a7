"""What the v2 tests share: example rows and the native API's answer for them."""

from __future__ import annotations

import httpx
import numpy as np

ROWS = np.random.default_rng(11).normal(size=(5, 4)).astype(np.float32)


def native_outputs(client: httpx.Client, name: str, instances: list, **extra: object) -> tuple[np.ndarray, np.ndarray]:
    body = client.post(f"/models/{name}/predict", json={"instances": instances, **extra}).json()
    probabilities = np.array([p["probabilities"] for p in body["predictions"]], np.float32)
    multi_hot = np.array([p["multi_hot"] for p in body["predictions"]], bool)
    return probabilities, multi_hot

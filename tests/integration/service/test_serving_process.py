"""The serving process stays lean: no TensorFlow is ever loaded into it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import RunningServer


def test_serving_process_has_no_tensorflow_loaded(server: RunningServer, client: httpx.Client) -> None:
    assert client.post("/models/linear/predict", json={"instances": [[0, 1, 2, 3]]}).status_code == 200
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "onnxruntime" in maps  # the check can see shared libraries...
    assert "tensorflow" not in maps  # ...and none of TensorFlow's is mapped

"""Logits of ±100 from an exporter-built model: probabilities exactly 0.0 and 1.0, never NaN, end to end."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from model_export import export_model
from tests.support.onnx_checks import run_onnx
from tests.support.server import RunningServer

keras = pytest.importorskip("keras")

ROWS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], np.float32)
# Row 1: logits [+100, -100]; row 2: [-100, +100]; row 3: [0, 0].
EXPECTED_PROBABILITIES = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]


@pytest.fixture(scope="module")
def saturating_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = keras.Input((2,), name="x")
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.array([[100.0, -100.0], [0.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True))
    source = tmp_path_factory.mktemp("saturating") / "saturating.keras"
    model.save(source)
    repository = tmp_path_factory.mktemp("repository")
    output = repository / "saturating" / "1" / "model.onnx"
    # A sample with the saturating rows: the parity check sees the extremes too.
    sample = source.parent / "rows.npz"
    np.savez(sample, x=ROWS)
    export_model(source, output, ["up", "down"], sample_data=sample)
    return output


def test_onnx_runtime_gives_exact_zero_and_one(saturating_model):
    probabilities, logits = run_onnx(saturating_model, {"x": ROWS})
    assert logits.tolist() == [[100.0, -100.0], [-100.0, 100.0], [0.0, 0.0]]
    assert probabilities.tolist() == EXPECTED_PROBABILITIES
    assert np.all(np.isfinite(probabilities)) and np.all(np.isfinite(logits))


def test_service_returns_exact_zero_and_one_without_nan(saturating_model):
    server = RunningServer({"MODEL_REPOSITORY": str(saturating_model.parents[2])})
    try:
        response = httpx.post(f"{server.url}/models/saturating/predict", json={"instances": ROWS.tolist()}, timeout=10)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text and "Infinity" not in response.text
    predictions = response.json()["predictions"]
    assert [p["probabilities"] for p in predictions] == EXPECTED_PROBABILITIES
    assert [p["multi_hot"] for p in predictions] == [[1, 0], [0, 1], [1, 1]]  # 0.5 >= 0.5 counts
    assert [p["labels"] for p in predictions] == [["up"], ["down"], ["up", "down"]]

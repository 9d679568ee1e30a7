"""Shared checks on exported ONNX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, logits = session.run(["probabilities", "logits"], inputs)
    return probabilities, logits


def numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def temp_leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def reference(repository: Path, name: str, version: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and logits straight from ONNX Runtime, probabilities checked against a numpy sigmoid."""
    session = ort.InferenceSession(str(repository / name / str(version) / "model.onnx"))
    probabilities, logits = session.run(["probabilities", "logits"], {session.get_inputs()[0].name: rows})
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-6)
    return probabilities, logits

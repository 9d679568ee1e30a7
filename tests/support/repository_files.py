"""Writing into a model repository the way the exporter does: a temporary file, then an atomic rename."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.support.onnx_models import linear_model


def publish(target: Path, write: Callable[[Path], object]) -> object:
    """Create `target` (NAME/VERSION/model.onnx) atomically; the folder exists before the file does."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    result = write(staging)
    os.replace(staging, target)
    return result


def publish_linear(root: Path, name: str, version: int, seed: int) -> dict[str, np.ndarray]:
    """A linear model with its own weights (seed); returns them for reference maths."""
    return publish(root / name / str(version) / "model.onnx", lambda p: linear_model(p, seed=seed))


def publish_corrupt(root: Path, name: str, version: int) -> None:
    publish(root / name / str(version) / "model.onnx", lambda p: p.write_bytes(b"this is not an ONNX model"))


def expected_probabilities(weights: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    logits = rows.astype(np.float64) @ weights["weights"] + weights["bias"]
    return 1 / (1 + np.exp(-logits))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")

"""A NaN on either side of the parity check fails it: NaN compares false with any bound, so it could pass silently."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from model_export import ExportError
from model_export.parity.compare import Reference, sigmoid, verify_parity
from tests.support.onnx_models import linear_model


@pytest.fixture
def linear(tmp_path):
    weights = linear_model(tmp_path / "m.onnx", n_features=4)
    return onnx.load(str(tmp_path / "m.onnx")), weights


def _reference(weights, poison: bool):
    def reference(batch):
        logits = batch["features"].astype(np.float64) @ weights["weights"] + weights["bias"]
        if poison:
            logits[0, 0] = np.nan
        return Reference(probabilities=sigmoid(logits), logits=logits)

    return reference


def test_parity_passes_on_the_same_model(linear):
    model, weights = linear
    batch = {"features": np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)}
    assert verify_parity(model, [batch], _reference(weights, poison=False)).max_abs_error_probabilities < 1e-6


def test_nan_in_the_reference_fails(linear):
    model, weights = linear
    batch = {"features": np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)}
    with pytest.raises(ExportError, match="parity check failed"):
        verify_parity(model, [batch], _reference(weights, poison=True))


def test_nan_on_both_sides_fails(linear):
    model, weights = linear
    features = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    features[0, 0] = np.nan  # ONNX Runtime and the reference both answer NaN for this row
    with pytest.raises(ExportError, match="parity check failed"):
        verify_parity(model, [{"features": features}], _reference(weights, poison=False))

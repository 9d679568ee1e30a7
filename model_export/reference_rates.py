"""Reference rates: each label's positive rate on labelled data, at the model's thresholds, for the metadata.

The serving side reads the entry back (`service/core/reference_rates.py` documents the format) and exposes the
rates beside the live per-label rates, so a drift from validation behaviour shows. Written by `calibrate` (its
validation data) and by the exporter when its `--sample-data` holds labels `y`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model_export.data_checks import check_multi_hot
from model_export.errors import ExportError
from model_export.files import sha256_of_source

if TYPE_CHECKING:
    import onnx

METADATA_KEY = "reference_rates"
TARGET_KEY = "y"


def reference_rates_entry(
    labels: Sequence[str],
    probabilities: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float],
    source: str,
    data_file: Path,
) -> str:
    """The metadata value: positive rates (probability >= threshold, in float32 as the service compares), true
    rates from `truth`, and what they were counted on."""
    predicted = np.asarray(probabilities, np.float32) >= np.asarray(thresholds, np.float32)
    rows = int(predicted.shape[0])
    return json.dumps(
        {
            "positive_rates": dict(zip(labels, (predicted.sum(axis=0) / rows).tolist(), strict=True)),
            "true_rates": dict(zip(labels, (np.asarray(truth, bool).sum(axis=0) / rows).tolist(), strict=True)),
            "thresholds": [float(t) for t in thresholds],
            "rows": rows,
            "source": source,
            "data_file": data_file.name,
            "data_sha256": sha256_of_source(data_file),
        }
    )


def sample_labels(path: str | Path, rows: int, n_labels: int) -> np.ndarray | None:
    """The multi-hot labels `y` of a sample-data .npz, None when it has none."""
    with np.load(path) as archive:
        if TARGET_KEY not in archive.files:
            return None
        truth = np.asarray(archive[TARGET_KEY])
    truth = check_multi_hot(truth, n_labels, f"'{TARGET_KEY}' in {Path(path).name}")
    if truth.shape[0] != rows:
        raise ExportError(
            f"'{TARGET_KEY}' in {Path(path).name} has {truth.shape[0]} rows and the inputs {rows}: one row of labels "
            "per sample row"
        )
    return truth


def sample_reference_rates(
    model: onnx.ModelProto,
    inputs: dict[str, np.ndarray],
    sample_data: str | Path,
    labels: Sequence[str],
    thresholds: Sequence[float],
) -> str | None:
    """The entry for an export's sample data (all its rows in `inputs`), None when the data has no labels."""
    import onnxruntime as ort

    truth = sample_labels(sample_data, int(next(iter(inputs.values())).shape[0]), len(labels))
    if truth is None:
        return None
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], inputs)[0]
    return reference_rates_entry(labels, probabilities, truth, thresholds, "export", Path(sample_data))

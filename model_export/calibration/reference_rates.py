"""Reference rates: each label's positive rate on labelled data, at the model's thresholds, for the metadata.

The serving side reads the entry back (`service/contract/reference_rates.py` holds the format) and exposes the
rates beside the live per-label rates, so a drift from validation behaviour shows. Written by `calibrate` (its
validation data) and by the exporter when its `--sample-data` holds labels `y`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model_export.data.checks import check_multi_hot
from model_export.errors import ExportError
from model_export.files import sha256_of_source
from service.contract.metadata import OUTPUT_PROBABILITIES
from service.contract.reference_rates import reference_rates_entry as rates_entry

if TYPE_CHECKING:
    import onnx

TARGET_KEY = "y"


def reference_rates_entry(
    labels: Sequence[str],
    probabilities: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float],
    source: str,
    data_file: Path,
) -> str:
    """The contract's entry, counted on `data_file`'s rows (named and fingerprinted in the entry)."""
    return rates_entry(labels, probabilities, truth, thresholds, source, data_file.name, sha256_of_source(data_file))


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
    probabilities = session.run([OUTPUT_PROBABILITIES], inputs)[0]
    return reference_rates_entry(labels, probabilities, truth, thresholds, "export", Path(sample_data))

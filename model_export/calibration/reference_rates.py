"""Reference rates: each label's positive rate on labelled data, at the model's thresholds, for the metadata.

The serving side reads the entry back (`service/contract/reference_rates.py` holds the format) and exposes the
rates beside the live per-label rates, so a drift from validation behaviour shows. Written by `calibrate` (its
validation data) and by the exporter when its `--sample-data` holds labels (`y`, or "labels" in JSONL / CSV).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model_export.data.reader import Column, read_rows
from model_export.files import sha256_of_source
from service.contract.metadata import OUTPUT_PROBABILITIES
from service.contract.reference_rates import reference_rates_entry as rates_entry

if TYPE_CHECKING:
    import onnx


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


def sample_reference_rates(
    model: onnx.ModelProto,
    inputs: dict[str, np.ndarray],
    sample_data: str | Path,
    labels: Sequence[str],
    thresholds: Sequence[float],
    file_labels: Sequence[str] | None = None,
) -> str | None:
    """The entry for an export's sample data (all its rows in `inputs`), None when the data has no labels.

    The labels are read by the reader every command uses: `y` in an .npz, "labels" in JSONL / CSV. `file_labels`:
    the labels the file gives, when the model serves only some of them (--drop-label)."""
    import onnxruntime as ort

    columns = [Column(name, is_text=False, dtype=array.dtype.name) for name, array in inputs.items()]
    file_labels = list(labels if file_labels is None else file_labels)
    _, truth = read_rows(sample_data, columns, file_labels, labels_optional=True)
    if truth is None:
        return None
    truth = truth[:, [file_labels.index(label) for label in labels]]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run([OUTPUT_PROBABILITIES], inputs)[0]
    return reference_rates_entry(labels, probabilities, truth, thresholds, "export", Path(sample_data))

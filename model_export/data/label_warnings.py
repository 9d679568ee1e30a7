"""Labels that should not be served as they are, said at export and at calibrate: a label named like a Keras lookup's
out-of-vocabulary token, and a label that no row of the data given marks positive.

keras.io's multi-label example takes its labels from `StringLookup(output_mode="multi_hot")`, whose vocabulary
starts with the OOV token "[UNK]": the model gets an output column that no example ever has, served with a
threshold, a reference rate of 0 and a drift ratio that is NaN. The remedy is the exporter's `--drop-label`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_export.data.reader import read_rows

OOV_TOKENS = ("[UNK]",)  # Keras' default oov_token for StringLookup and TextVectorization
DROP_OPTION = "--drop-label"


def label_warnings(labels: Sequence[str], truth: np.ndarray | None, data_file: Path | None, remedy: str) -> list[str]:
    """One warning per suspicious label; `truth` [rows, labels] from `data_file` (None: no labelled data). `remedy`
    is said after each, with {option} standing for `--drop-label LABEL`."""
    warnings = []
    for column, label in enumerate(labels):
        problems = []
        if label in OOV_TOKENS:
            problems.append(
                "is the out-of-vocabulary token of a Keras StringLookup (its vocabulary's first entry), not a class"
            )
        if truth is not None and data_file is not None and not truth[:, column].any():
            problems.append(f"has no positive row in {data_file.name} ({truth.shape[0]} rows)")
        if problems:
            option = f"{DROP_OPTION} {shlex.quote(label)}"
            warnings.append(
                f"label {label!r} {'; it '.join(problems)}: no threshold can be chosen for it, and its reference rate "
                f"says nothing. {remedy.format(option=option)}"
            )
    return warnings


EXPORT_REMEDY = "If the model can never predict it, leave it out of the served outputs with {option}."
CALIBRATE_REMEDY = "If the model can never predict it, export the model again with {option}."


def sample_truth(sample_data: str | Path | None, labels: Sequence[str]) -> np.ndarray | None:
    """The sample data's labels as multi-hot [rows, labels], or None when it gives none."""
    if sample_data is None:
        return None
    _, truth = read_rows(sample_data, [], labels, labels_optional=True)
    return truth

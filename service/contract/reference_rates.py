"""Reference rates: how often each label was predicted positive on validation data, written and read here.

`model_export calibrate` (and the exporter, given `--sample-data` with labels `y`) writes one metadata entry,
`reference_rates` (`reference_rates_entry`), a JSON object:

    {"positive_rates": {"even": 0.4933, ...},  # share of rows with probability >= threshold, per label
     "true_rates": {"even": 0.4911, ...},      # share of rows whose label `y` is 1, per label
     "thresholds": [0.5, ...],                 # the model's thresholds the positive rates were counted at
     "rows": 450, "source": "calibrate", "data_file": "val.npz", "data_sha256": "..."}

The live positive rate of a label (the service's per-label metrics) is comparable with `positive_rates`
only at the same thresholds, so an entry counted at other thresholds than the model's is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .metadata import REFERENCE_RATES as METADATA_KEY


class InvalidReferenceRates(ValueError):
    """The entry cannot be used; the message says why. Serve the model anyway, without reference rates."""


@dataclass(frozen=True)
class ReferenceRates:
    positive_rates: dict[str, float]  # label -> share of validation rows predicted positive
    true_rates: dict[str, float]  # label -> share of validation rows truly positive
    rows: int
    source: str  # "calibrate" or "export"
    data_file: str


def reference_rates_entry(
    labels: Sequence[str],
    probabilities: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float],
    source: str,
    data_file: str,
    data_sha256: str,
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
            "data_file": data_file,
            "data_sha256": data_sha256,
        }
    )


def parse_reference_rates(
    metadata: Mapping[str, str], labels: Sequence[str], thresholds: Sequence[float] | np.ndarray
) -> ReferenceRates | None:
    """The model's reference rates, None when its metadata has none; InvalidReferenceRates when unusable."""
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        raise InvalidReferenceRates(f"metadata '{METADATA_KEY}' is not valid JSON") from None
    if not isinstance(entry, dict):
        raise InvalidReferenceRates(f"metadata '{METADATA_KEY}' must be a JSON object")
    positive = _rates(entry, "positive_rates", labels)
    true = _rates(entry, "true_rates", labels) if "true_rates" in entry else {}
    counted_at = entry.get("thresholds")
    if not _same_thresholds(counted_at, thresholds):
        raise InvalidReferenceRates(
            f"reference rates were counted at thresholds {counted_at}, but the model's are "
            f"{[float(t) for t in np.asarray(thresholds, np.float32)]}; recalibrate to count them again"
        )
    rows = entry.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidReferenceRates(f"'rows' in metadata '{METADATA_KEY}' must be a positive whole number")
    return ReferenceRates(positive, true, rows, str(entry.get("source", "")), str(entry.get("data_file", "")))


def _rates(entry: dict, key: str, labels: Sequence[str]) -> dict[str, float]:
    rates = entry.get(key)
    if not isinstance(rates, dict):
        raise InvalidReferenceRates(f"'{key}' in metadata '{METADATA_KEY}' must map labels to rates")
    if set(rates) != set(labels):
        missing, unknown = sorted(set(labels) - set(rates)), sorted(set(rates) - set(labels))
        raise InvalidReferenceRates(f"'{key}' must name every label once; missing {missing}, unknown {unknown}")
    for label, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise InvalidReferenceRates(f"'{key}' of label {label!r} must be a number in [0, 1], got {rate!r}")
    return {label: float(rates[label]) for label in labels}


def _same_thresholds(counted_at: object, thresholds: Sequence[float] | np.ndarray) -> bool:
    if not isinstance(counted_at, list) or len(counted_at) != len(thresholds):
        return False
    if not all(isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in counted_at):
        return False
    # float32, as the service compares: a threshold written as 0.3 or as float32(0.3) is the same threshold.
    return bool(np.array_equal(np.asarray(counted_at, np.float32), np.asarray(thresholds, np.float32)))

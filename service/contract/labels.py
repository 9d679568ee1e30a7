"""Labels and thresholds: the one rule that reads them from a model file, for the server and every exporter command.

- `labels` (required): a JSON list of unique, non-empty strings, one per output column.
- `thresholds`: a JSON list of numbers in [0, 1], one per label: a label is positive when its probability is
  >= its threshold. **When the entry is absent (or JSON null), every label's threshold is 0.5** (`DEFAULT_THRESHOLD`,
  the exporter's default too), and `read_labels_and_thresholds` says so in its note: the server logs it, `inspect`
  shows it, `calibrate` and `publish` start from it. Anything else that is wrong refuses the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import InvalidModelFile
from .metadata import LABELS, THRESHOLDS

DEFAULT_THRESHOLD = 0.5
NO_THRESHOLDS_NOTE = f"the file has no '{THRESHOLDS}' entry: every label's threshold is {DEFAULT_THRESHOLD}"


@dataclass(frozen=True)
class LabelsAndThresholds:
    labels: list[str]
    thresholds: list[float]  # one per label, in label order
    note: str | None = None  # set when the thresholds are the default because the file has none


def read_labels_and_thresholds(metadata: Mapping[str, str]) -> LabelsAndThresholds:
    """The labels and thresholds of a model file's metadata; InvalidModelFile naming what is wrong."""
    if LABELS not in metadata:
        raise InvalidModelFile(
            f"the metadata has no '{LABELS}' entry (a JSON list of label names); export it with model_export"
        )
    labels = _json(metadata, LABELS)
    problem = label_problem(labels)
    if problem:
        raise InvalidModelFile(f"metadata '{LABELS}': {problem}")
    raw = _json(metadata, THRESHOLDS) if THRESHOLDS in metadata else None
    if raw is None:
        return LabelsAndThresholds(labels, [DEFAULT_THRESHOLD] * len(labels), NO_THRESHOLDS_NOTE)
    if not isinstance(raw, list) or len(raw) != len(labels) or not all(is_threshold(t) for t in raw):
        raise InvalidModelFile(
            f"metadata '{THRESHOLDS}' must be {len(labels)} numbers in [0, 1], one per label; "
            f"got {json.dumps(raw)[:200]}"
        )
    return LabelsAndThresholds(labels, [float(t) for t in raw])


def label_problem(labels: object) -> str | None:
    """Why a value is not a list of label names (unique, non-empty strings), or None when it is one."""
    if not isinstance(labels, list) or not labels:
        return "must be a non-empty JSON list of label names"
    if not all(isinstance(label, str) and label.strip() for label in labels):
        return f"every label must be a non-empty string; got {json.dumps(labels)[:200]}"
    seen: set[str] = set()
    duplicated = sorted({label for label in labels if label in seen or seen.add(label)})
    if duplicated:
        return f"label names must be unique; duplicated: {', '.join(duplicated)}"
    return None


def is_threshold(value: object) -> bool:
    """A number in [0, 1] (not a boolean, not NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value) and 0 <= value <= 1


def dump_labels_and_thresholds(labels: Sequence[str], thresholds: Sequence[float]) -> dict[str, str]:
    """The two metadata entries, as the exporter writes them."""
    return {LABELS: json.dumps(list(labels)), THRESHOLDS: json.dumps([float(t) for t in thresholds])}


def _json(metadata: Mapping[str, str], key: str) -> object:
    try:
        return json.loads(metadata[key])
    except ValueError:
        raise InvalidModelFile(f"metadata '{key}' is not valid JSON") from None

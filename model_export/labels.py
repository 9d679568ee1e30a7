"""Label names and per-label thresholds: parsing CLI values and validating them (no TensorFlow)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from model_export.errors import ExportError

DEFAULT_THRESHOLD = 0.5


def parse_labels_arg(value: str) -> list[str]:
    """`a,b,c` or `@labels.txt` (one label per line, blank lines ignored)."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ExportError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
        return [line.strip() for line in text.splitlines() if line.strip()]
    return [part.strip() for part in value.split(",")]


def parse_thresholds_arg(value: str, option: str = "--thresholds") -> dict[str, float]:
    """`a=0.3,b=0.7` → {"a": 0.3, "b": 0.7}."""
    thresholds: dict[str, float] = {}
    for item in value.split(","):
        name, sep, number = item.partition("=")
        if not sep or not name.strip():
            raise ExportError(f"{option} expects label=value pairs separated by commas, got {item!r}")
        thresholds[name.strip()] = parse_threshold(number, what=f"{option} for {name.strip()!r}")
    return thresholds


def parse_threshold(value: str, what: str = "threshold") -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ExportError(f"{what} must be a number in [0, 1], got {value!r}") from exc


def validate_labels(labels: Sequence[str], n_outputs: int | None = None) -> list[str]:
    if isinstance(labels, str):
        # list("cat,dog") would be its characters, reported as duplicated ',' and letters.
        names = json.dumps([part.strip() for part in labels.split(",")])
        raise ExportError(
            f"labels must be a list of names, one per output column: pass {names}, "
            f"not the one string {json.dumps(labels)}"
        )
    labels = list(labels)
    if not labels:
        raise ExportError("no labels given: pass --labels a,b,c (one name per output column)")
    empty = [i for i, label in enumerate(labels) if not isinstance(label, str) or not label.strip()]
    if empty:
        raise ExportError(f"label names must be non-empty; empty name at position(s) {empty}")
    seen: set[str] = set()
    duplicates = sorted({label for label in labels if label in seen or seen.add(label)})
    if duplicates:
        raise ExportError(f"label names must be unique; duplicated: {', '.join(duplicates)}")
    if n_outputs is not None and len(labels) != n_outputs:
        raise ExportError(
            f"the model outputs {n_outputs} columns but {len(labels)} labels were given "
            f"({', '.join(labels)}); pass exactly one label per output column, in output order"
        )
    return labels


def resolve_thresholds(
    labels: Sequence[str],
    per_label: Mapping[str, float] | Sequence[float] | None = None,
    default: float = DEFAULT_THRESHOLD,
) -> list[float]:
    """One threshold per label, in label order; labels not named get `default`."""
    _check_threshold(default, "default threshold")
    if per_label is None:
        return [float(default)] * len(labels)
    if not isinstance(per_label, Mapping):
        values = [float(v) for v in per_label]
        if len(values) != len(labels):
            raise ExportError(f"{len(values)} thresholds given for {len(labels)} labels")
        per_label = dict(zip(labels, values, strict=True))
    unknown = sorted(set(per_label) - set(labels))
    if unknown:
        raise ExportError(f"thresholds name unknown label(s): {', '.join(unknown)}; known labels: {', '.join(labels)}")
    resolved = []
    for label in labels:
        value = float(per_label.get(label, default))
        _check_threshold(value, f"threshold for {label!r}")
        resolved.append(value)
    return resolved


def _check_threshold(value: float, what: str) -> None:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ExportError(f"{what} must be within [0, 1], got {value}")


def kept_label_columns(labels: Sequence[str], dropped: Sequence[str]) -> list[int]:
    """The output columns served when the labels `dropped` are left out (--drop-label), in label order."""
    unknown = sorted(set(dropped) - set(labels))
    if unknown:
        raise ExportError(f"--drop-label names unknown label(s) {', '.join(unknown)}; labels: {', '.join(labels)}")
    kept = [column for column, label in enumerate(labels) if label not in set(dropped)]
    if not kept:
        raise ExportError("--drop-label would leave no label to serve")
    return kept

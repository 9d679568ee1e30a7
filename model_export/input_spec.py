"""What the exporter knows of one model input (shared by loading, conversion, parity and the text plan)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]  # first dimension is the batch (None)
    dtype: str  # numpy dtype name: float32, int32, int64, ...; "string" for a raw-text input

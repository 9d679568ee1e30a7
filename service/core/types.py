"""Protocol-free request and result objects: every adapter translates to and from these."""

from dataclasses import dataclass, field

import numpy as np

# None: the model's own thresholds; a float: one threshold for every label; a dict: per label overrides.
ThresholdSpec = float | dict[str, float] | None


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]  # None marks a dynamic dimension (the batch, at least)

    @property
    def row_shape(self) -> tuple[int | None, ...]:
        return self.shape[1:]


@dataclass
class InferenceRequest:
    model_name: str
    inputs: dict[str, object]  # raw values (nested lists or numpy arrays) by input name
    model_version: int | None = None
    threshold: ThresholdSpec = None
    request_id: str | None = None
    timeout_ms: float | None = None  # a protocol's own timeout field; the core applies the smallest limit


@dataclass
class InferenceResult:
    model_name: str
    model_version: int
    labels: list[str]
    probabilities: np.ndarray  # float32 [rows, labels]
    logits: np.ndarray  # float32 [rows, labels]
    thresholds: np.ndarray  # float32 [labels], the ones applied
    multi_hot: np.ndarray = field(init=False)  # uint8 [rows, labels]: probabilities >= thresholds

    def __post_init__(self) -> None:
        self.multi_hot = (self.probabilities >= self.thresholds).astype(np.uint8)

    @property
    def rows(self) -> int:
        return int(self.probabilities.shape[0])

    def positive_labels(self) -> list[list[str]]:
        labels = self.labels
        return [[labels[j] for j in np.flatnonzero(row)] for row in self.multi_hot]

"""Protocol-free requests, results and descriptions: every adapter translates to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contract.model_file import InputSpec

# None: the model's own thresholds; a float: one threshold for every label; a dict: per label overrides.
ThresholdSpec = float | dict[str, float] | None


@dataclass(frozen=True)
class ModelHandle:
    """A served model version as the data plane hands it to adapters: what they may read of it, and the token they
    give back to `DataPlane.infer`. A request keeps its handle to the end, so a hot swap meanwhile does not touch it.
    Made once per loaded version."""

    name: str
    version: int
    path: Path
    labels: list[str]
    thresholds: np.ndarray  # float32 [labels]: the model's own
    inputs: list[InputSpec]  # what clients send
    served: Any = field(repr=False, compare=False)  # the registry's own object: only the data plane reads it
    input_aliases: dict[str, str] = field(default_factory=dict)  # {alias: input name} the native API also takes
    input_dtypes: dict[str, np.dtype] = field(init=False, repr=False, compare=False)  # input name -> its dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dtypes", {spec.name: spec.dtype for spec in self.inputs})

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]


@dataclass
class InferenceRequest:
    """What a caller asks for. Inputs come as named columns, or as rows (`instances`), as the caller sent them."""

    inputs: dict[str, object] | None = None  # input name -> batch (nested lists or a numpy array)
    instances: list[Any] | None = None  # rows: a value for a one-input model, or {input name: value}
    threshold: ThresholdSpec = None
    may_hold_booleans: bool = True  # False: the protocol knows no true/false was sent (skips a scan for them)
    arrived_at: float | None = None  # monotonic clock; the deadline counts from here (now, if None)
    timeout_ms: float | None = None  # the client's own limit, if its protocol carries one


@dataclass
class InferenceResult:
    model_name: str
    model_version: int
    labels: list[str]
    probabilities: np.ndarray  # float32 [rows, labels]
    logits: np.ndarray  # float32 [rows, labels]
    thresholds: np.ndarray  # float32 [labels], the ones applied
    _multi_hot: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def multi_hot(self) -> np.ndarray:
        """uint8 [rows, labels]: 1 where probability >= threshold. Worked out when first asked for (an answer that
        holds only probabilities never pays for it); not functools.cached_property, which takes a lock in 3.11."""
        if self._multi_hot is None:
            self._multi_hot = (self.probabilities >= self.thresholds).view(np.uint8)
        return self._multi_hot

    @property
    def rows(self) -> int:
        return int(self.probabilities.shape[0])


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: list[str]  # why not, for a person
    served: dict[str, int]  # model name -> version served
    problems: list[str] = field(default_factory=list)  # what is wrong in the repository but does not stop serving


@dataclass(frozen=True)
class BatchingPolicy:
    """How requests are batched, the same for every model: for clients that read a model's configuration."""

    max_batch_size: int  # rows in one request and in one ONNX Runtime call
    max_delay_ms: float  # how long a batch waits for more rows
    max_queue_rows: int  # rows waiting per model before requests are refused


@dataclass(frozen=True)
class ModelDescription:
    """One model as the repository knows it, served or not. `state` is one of MODEL_STATES."""

    name: str
    state: str
    version: int | None  # served, or else the newest on disk
    versions: list[int]  # on disk, ascending
    labels: list[str]
    thresholds: list[float]
    inputs: list[InputSpec]
    provenance: dict[str, str]  # the model file's other metadata (export and calibration records)
    reason: str | None  # why it is not served, or why a newer version was rejected
    ignored: list[str] = field(default_factory=list)  # other entries in its folder, and what was expected
    reference_rates: dict[str, float] | None = None  # each label's positive rate on validation data
    calibration: dict | None = None  # how the thresholds were chosen (model_export calibrate's record)
    optimization: dict | None = None  # int8 / float16 / graph-only, with its per-label proof (model_export optimize)
    input_aliases: dict[str, str] = field(default_factory=dict)  # {alias: input name} the native API also takes
    text_rules: dict[str, dict[str, bool]] = field(default_factory=dict)  # per text input: which texts get a 400

    @property
    def ready(self) -> bool:
        return self.state == READY


# A model's state. PENDING: on disk, not yet picked up (the next poll or an explicit load will).
LOADING, READY, DRAINING, FAILED, UNLOADED, PENDING = "loading", "ready", "draining", "failed", "unloaded", "pending"
MODEL_STATES = (LOADING, READY, DRAINING, FAILED, UNLOADED, PENDING)

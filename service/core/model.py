"""One ONNX model in ONNX Runtime: the model file read through the contract, its runs, and what a call costs.

`inputs` are what clients send; `onnx_inputs` what ONNX Runtime takes; `text_inputs` the step between them (None for
a model without text). What the file must hold is the contract's (`service/contract/model_file.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..contract.errors import InvalidModelFile
from ..contract.metadata import OUTPUT_LOGITS, OUTPUT_PROBABILITIES
from ..contract.model_file import ModelFile, check_warm_up, example_feeds, read_session
from ..contract.reference_rates import ReferenceRates
from .batch_cost import BatchCost
from .batch_cost import measure as measure_batch_cost
from .errors import InvalidInput, as_sent
from .text_inputs import TextInputs
from .types import InputSpec, ThresholdSpec


class ModelLoadError(Exception):
    """The file is not a model this service can serve; the message says why."""


@dataclass
class LoadedModel:
    name: str
    version: int
    path: Path
    session: ort.InferenceSession
    inputs: list[InputSpec]  # what clients send: text inputs (one string per row) and numeric ones
    labels: list[str]
    thresholds: np.ndarray
    metadata: dict[str, str]
    onnx_inputs: list[InputSpec]  # what ONNX Runtime takes (the same as `inputs` for a model without text)
    file: ModelFile  # what the file holds, as the contract reads it
    text_inputs: TextInputs | None = None  # a text model's input step
    reference_rates: ReferenceRates | None = None  # each label's positive rate on validation data, if recorded
    warnings: tuple[str, ...] = ()  # what is wrong with the file but does not stop serving it
    cost: BatchCost | None = None  # measured by warm_up

    @classmethod
    def load(cls, name: str, version: int, path: Path, intra_op_threads: int = 1) -> LoadedModel:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises several unrelated types for a bad file
            raise ModelLoadError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        try:
            contents = read_session(session)
        except InvalidModelFile as exc:
            raise ModelLoadError(f"{path}: {exc}") from None
        steps = contents.text_steps
        return cls(
            name,
            version,
            path,
            session,
            contents.inputs,
            contents.labels,
            contents.thresholds,
            contents.metadata,
            contents.graph_inputs,
            contents,
            TextInputs(steps, contents.inputs, contents.transformer) if steps or contents.transformer else None,
            contents.reference_rates,
            contents.warnings,
        )

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def run(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and logits for already validated inputs (blocking: call it off the event loop).

        A batch larger than the model's most efficient size runs as chunks of that size."""
        rows = next(iter(arrays.values())).shape[0]
        step = self.cost.chunk_rows if self.cost else rows
        if rows <= step:
            return self._run_once(arrays)
        parts = [self._run_once({k: v[i : i + step] for k, v in arrays.items()}) for i in range(0, rows, step)]
        return np.concatenate([p for p, _ in parts]), np.concatenate([logits for _, logits in parts])

    def _run_once(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        probabilities, logits = self.session.run([OUTPUT_PROBABILITIES, OUTPUT_LOGITS], arrays)
        return probabilities, logits

    def warm_up(self, max_rows: int = 1, budget_s: float = 0.25) -> None:
        """First runs (ORT allocates on them), the contract's sanity check, and the cost of a call at each batch
        size."""
        probabilities, _ = self._run_once(example_feeds(self.file, 1))
        try:
            check_warm_up(probabilities, 1, len(self.labels))
        except InvalidModelFile as exc:
            raise ModelLoadError(str(exc)) from None
        if any(s.shape[0] is not None for s in self.onnx_inputs):
            max_rows = 1  # a fixed batch dimension: one row per call is all this model takes
        example = partial(example_feeds, self.file)
        try:
            self.cost = measure_batch_cost(self._run_once, example, max_rows, budget_s)
        except Exception:  # ORT refusing a larger batch is for serving to report: measure one row only
            self.cost = measure_batch_cost(self._run_once, example, 1, budget_s)

    @property
    def merge_rows(self) -> Callable[[list[dict[str, np.ndarray]]], dict[str, np.ndarray]] | None:
        """How the batcher joins requests' arrays when they differ in width (a transformer's rows), or None."""
        return None if self.text_inputs is None else self.text_inputs.merge

    @property
    def call_seconds(self) -> Callable[[int], float] | None:
        """How long a call on so many rows takes, from the warm-up's measure; None when that does not tell: a
        variable-length model's (or a transformer's) cost grows with its texts' token counts, which the warm-up's
        one text hides."""
        text = self.text_inputs
        if self.cost is None or (text is not None and (text.variable_length or text.transformer is not None)):
            return None
        return self.cost.seconds

    def resolve_thresholds(self, spec: ThresholdSpec) -> np.ndarray:
        if spec is None:
            return self.thresholds
        if isinstance(spec, dict):
            thresholds = self.thresholds.copy()
            for label, value in spec.items():
                if label not in self.labels:
                    raise InvalidInput(f"threshold for unknown label {label!r}; labels are {self.labels}")
                thresholds[self.labels.index(label)] = _check_threshold(value, f"threshold[{label!r}]")
            return thresholds
        return np.full(len(self.labels), _check_threshold(spec, "threshold"), np.float32)


def _check_threshold(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{what} must be a number in [0, 1], got {as_sent(value)}")
    return float(value)

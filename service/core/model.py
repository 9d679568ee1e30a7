"""One ONNX model in ONNX Runtime: its inputs, labels and thresholds, its runs, and what a call costs.

A text model's inputs are not its graph's: clients send text, which its text steps (declared in the metadata, see
`text_inputs.py`) turn into the graph's inputs. `inputs` are what clients send; `onnx_inputs` what ONNX Runtime
takes; `text_inputs` the step between them (None for a model without text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .batch_cost import BatchCost
from .batch_cost import measure as measure_batch_cost
from .errors import InvalidInput, as_sent
from .reference_rates import InvalidReferenceRates, ReferenceRates, parse_reference_rates
from .text_inputs import TextInputs
from .text_step import text_steps_from_metadata
from .types import InputSpec, ThresholdSpec

OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_LOGITS = "logits"

_ORT_TYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int64)": np.dtype(np.int64),
}


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
        output_names = [o.name for o in session.get_outputs()]
        if output_names[:2] != [OUTPUT_PROBABILITIES, OUTPUT_LOGITS]:
            raise ModelLoadError(
                f"{path}: outputs are {output_names}, expected [probabilities, logits]; export it with model_export"
            )
        onnx_inputs = []
        for node in session.get_inputs():
            if node.type not in _ORT_TYPES:
                raise ModelLoadError(f"{path}: input {node.name!r} has unsupported type {node.type}")
            shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
            onnx_inputs.append(InputSpec(node.name, _ORT_TYPES[node.type], shape))
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        try:
            steps = text_steps_from_metadata(metadata)
            text_inputs = TextInputs(steps, onnx_inputs) if steps else None
        except ValueError as exc:
            raise ModelLoadError(f"{path}: cannot serve its text inputs: {exc}") from None
        inputs = text_inputs.inputs if text_inputs else onnx_inputs
        labels, thresholds = _labels_and_thresholds(metadata, path)
        width = session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(labels):
            raise ModelLoadError(f"{path}: {len(labels)} labels in metadata but the output has {width} columns")
        try:
            reference_rates, warnings = parse_reference_rates(metadata, labels, thresholds), ()
        except InvalidReferenceRates as exc:
            reference_rates, warnings = None, (f"served without reference rates: {exc}",)
        return cls(
            name,
            version,
            path,
            session,
            inputs,
            labels,
            thresholds,
            metadata,
            onnx_inputs,
            text_inputs,
            reference_rates,
            warnings,
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
        """First runs (ORT allocates on them), a sanity check, and the cost of a call at each batch size.

        A text model warms up on a text of its own vocabulary, through its text steps: zeros would be all padding,
        which some text models answer with NaN (they refuse such a text with `needs_token`)."""
        example = self.text_inputs.example_arrays if self.text_inputs else self._zeros
        probabilities, _ = self._run_once(example(1))
        if probabilities.shape != (1, len(self.labels)) or not np.all(np.isfinite(probabilities)):
            raise ModelLoadError(f"warm-up inference gave {probabilities.shape} / non-finite probabilities")
        if any(s.shape[0] is not None for s in self.onnx_inputs):
            max_rows = 1  # a fixed batch dimension: one row per call is all this model takes
        try:
            self.cost = measure_batch_cost(self._run_once, example, max_rows, budget_s)
        except Exception:  # ORT refusing a larger batch is for serving to report: measure one row only
            self.cost = measure_batch_cost(self._run_once, example, 1, budget_s)

    @property
    def call_seconds(self) -> Callable[[int], float] | None:
        """How long a call on so many rows takes, from the warm-up's measure; None when that does not tell: a
        variable-length model's cost grows with its texts' token counts, which the warm-up's one-word text hides."""
        if self.cost is None or (self.text_inputs is not None and self.text_inputs.variable_length):
            return None
        return self.cost.seconds

    def _zeros(self, rows: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros((rows, *(d or 1 for d in s.row_shape)), s.dtype) for s in self.onnx_inputs}

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


def _labels_and_thresholds(metadata: dict[str, str], path: Path) -> tuple[list[str], np.ndarray]:
    try:
        labels = json.loads(metadata["labels"])
        thresholds = json.loads(metadata.get("thresholds", "null")) or [0.5] * len(labels)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{path}: metadata lacks valid JSON 'labels'/'thresholds' ({exc})") from exc
    if not labels or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise ModelLoadError(f"{path}: labels must be unique non-empty strings, got {labels!r}")
    if len(thresholds) != len(labels) or not all(isinstance(t, int | float) and 0 <= t <= 1 for t in thresholds):
        raise ModelLoadError(f"{path}: thresholds must be {len(labels)} numbers in [0, 1], got {thresholds!r}")
    return labels, np.asarray(thresholds, np.float32)


def _check_threshold(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{what} must be a number in [0, 1], got {as_sent(value)}")
    return float(value)

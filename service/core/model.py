"""One ONNX model in ONNX Runtime: its metadata, its inputs, and how a request's arrays become its inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .batch_cost import BatchCost
from .batch_cost import measure as measure_batch_cost
from .errors import InvalidInput
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
    inputs: list[InputSpec]
    labels: list[str]
    thresholds: np.ndarray
    metadata: dict[str, str]
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
        inputs = []
        for node in session.get_inputs():
            if node.type not in _ORT_TYPES:
                raise ModelLoadError(f"{path}: input {node.name!r} has unsupported type {node.type}")
            shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
            inputs.append(InputSpec(node.name, _ORT_TYPES[node.type], shape))
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        labels, thresholds = _labels_and_thresholds(metadata, path)
        width = session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(labels):
            raise ModelLoadError(f"{path}: {len(labels)} labels in metadata but the output has {width} columns")
        return cls(name, version, path, session, inputs, labels, thresholds, metadata)

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
        """First runs (ORT allocates on them), a sanity check, and the cost of a call at each batch size."""
        probabilities, _ = self._run_once(self._zeros(1))
        if probabilities.shape != (1, len(self.labels)) or not np.all(np.isfinite(probabilities)):
            raise ModelLoadError(f"warm-up inference gave {probabilities.shape} / non-finite probabilities")
        if any(s.shape[0] is not None for s in self.inputs):
            max_rows = 1  # a fixed batch dimension: one row per call is all this model takes
        try:
            self.cost = measure_batch_cost(self._run_once, self._zeros, max_rows, budget_s)
        except Exception:  # ORT refusing a larger batch is for serving to report: measure one row only
            self.cost = measure_batch_cost(self._run_once, self._zeros, 1, budget_s)

    def _zeros(self, rows: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros((rows, *(d or 1 for d in s.row_shape)), s.dtype) for s in self.inputs}

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

    def to_arrays(self, raw_inputs: dict[str, object], max_rows: int) -> dict[str, np.ndarray]:
        """Validate named raw values (nested lists or arrays) into the arrays ONNX Runtime takes."""
        names = set(raw_inputs)
        expected = set(self.input_names)
        if names != expected:
            missing, unknown = sorted(expected - names), sorted(names - expected)
            raise InvalidInput(
                f"model {self.name!r} takes inputs {self.input_names}; missing {missing}, unknown {unknown}"
            )
        arrays = {spec.name: _to_array(spec, raw_inputs[spec.name]) for spec in self.inputs}
        batch_sizes = {a.shape[0] for a in arrays.values()}
        if len(batch_sizes) != 1:
            raise InvalidInput(f"inputs disagree on the number of rows: { {n: a.shape[0] for n, a in arrays.items()} }")
        rows = batch_sizes.pop()
        if rows == 0:
            raise InvalidInput("empty batch: send at least one row")
        if rows > max_rows:
            raise InvalidInput(f"batch of {rows} rows is over the limit of {max_rows} (MAX_BATCH_SIZE)")
        return arrays


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
        raise InvalidInput(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)


def holds_bool(nested: object, depth: int) -> bool:
    """Whether a rectangular list `depth` deep holds true or false: numpy would silently read them as 1 and 0."""
    leaves = nested
    for _ in range(depth - 1):
        leaves = chain.from_iterable(leaves)
    return depth > 0 and bool in map(type, leaves)  # type: ignore[call-overload]


def _to_array(spec: InputSpec, raw: object) -> np.ndarray:
    try:
        array = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"input {spec.name!r} is not a rectangular array of numbers ({exc})") from None
    if array.ndim and array.shape[0] == 0:
        raise InvalidInput(f"empty batch: input {spec.name!r} has no rows; send at least one")
    if array.dtype.kind not in "iuf":
        # numpy refuses ragged rows itself (above); object dtype here means null or {...} where numbers belong.
        kind = "holds null or objects" if array.dtype.kind == "O" else f"is of type {array.dtype}"
        raise InvalidInput(f"input {spec.name!r} must hold numbers, but it {kind}")
    if not isinstance(raw, np.ndarray) and holds_bool(raw, array.ndim):
        raise InvalidInput(f"input {spec.name!r} must hold numbers, but it holds true/false")
    if array.ndim != len(spec.shape) or any(
        want is not None and got != want for got, want in zip(array.shape[1:], spec.row_shape, strict=True)
    ):
        want = ["rows", *(d if d is not None else "any" for d in spec.row_shape)]
        raise InvalidInput(f"input {spec.name!r} has shape {list(array.shape)}, expected {want}")
    if spec.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            converted = array.astype(spec.dtype, copy=False)
        if not np.all(np.isfinite(converted)):
            raise InvalidInput(f"input {spec.name!r} holds NaN, infinity or a number too large for {spec.dtype}")
        return converted
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InvalidInput(f"input {spec.name!r} holds NaN or infinity")
    if array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
        raise InvalidInput(f"input {spec.name!r} takes integers ({spec.dtype}), got fractional numbers")
    info = np.iinfo(spec.dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise InvalidInput(f"input {spec.name!r} holds integers outside the {spec.dtype} range")
    return array.astype(spec.dtype, copy=False)

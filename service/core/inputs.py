"""A request's inputs into the arrays ONNX Runtime takes: rows or columns, validated against the model's inputs.

Every protocol hands its decoded values here, so every protocol refuses the same things with the same words:
missing or unknown inputs, ragged rows, null or objects where numbers belong, wrong shapes, NaN or infinity,
numbers too large for the input's type, fractional token ids, empty batches and batches over the limit.
"""

from __future__ import annotations

import math
import warnings
from itertools import chain
from typing import Any

import numpy as np

from .errors import InvalidInput
from .types import InputSpec

# A number too large for float32 becomes inf in the cast, and to_array refuses it with a 400 that says so: numpy's
# warning about it would only be noise in the log. A filter, not np.errstate around every cast (which cost more than
# the cast itself, docs/performance/profile.md).
warnings.filterwarnings("ignore", message="overflow encountered in cast", category=RuntimeWarning)


def columns_from_instances(model_name: str, inputs: list[InputSpec], instances: Any) -> dict[str, object]:
    """Row format to named columns: a list of values for a one-input model, or a list of {input: value}."""
    if not isinstance(instances, list):
        raise InvalidInput("'instances' must be a list with one entry per example")
    # `dict in map(type, ...)`: the rows' types compared at C speed (parsed JSON holds plain dicts).
    if len(inputs) == 1 and dict not in map(type, instances):
        return {inputs[0].name: instances}
    names = [spec.name for spec in inputs]
    if not all(isinstance(row, dict) for row in instances):
        raise InvalidInput(f"model {model_name!r} takes inputs {_listed(names)}: each instance must be an object")
    for i, row in enumerate(instances):
        if set(row) != set(names):
            raise InvalidInput(f"instance {i} has keys {_listed(sorted(row))}, expected {_listed(names)}")
    return {name: [row[name] for row in instances] for name in names}


def to_arrays(
    model_name: str, inputs: list[InputSpec], columns: dict[str, object], max_rows: int, may_hold_booleans: bool = True
) -> dict[str, np.ndarray]:
    """Validate named raw values (nested lists or arrays) into the arrays ONNX Runtime takes.

    `may_hold_booleans=False` when the protocol knows no true/false was sent (a JSON body without those words):
    it skips a scan of every value for them."""
    if len(inputs) == 1:  # the common case, without the sets and dicts of the general checks
        spec = inputs[0]
        if len(columns) != 1 or spec.name not in columns:
            check_names(model_name, inputs, columns)
        array = to_array(spec, columns[spec.name], may_hold_booleans)
        rows = array.shape[0]
        if not 0 < rows <= max_rows:
            check_rows({spec.name: rows}, max_rows)
        return {spec.name: array}
    check_names(model_name, inputs, columns)
    arrays = {spec.name: to_array(spec, columns[spec.name], may_hold_booleans) for spec in inputs}
    check_rows({name: a.shape[0] for name, a in arrays.items()}, max_rows)
    return arrays


def check_names(model_name: str, inputs: list[InputSpec], columns: dict[str, object]) -> None:
    names = set(columns)
    expected = [spec.name for spec in inputs]
    if names != set(expected):
        missing, unknown = sorted(set(expected) - names), sorted(names - set(expected))
        problems = [f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} missing"] if missing else []
        if unknown:
            problems.append(f"{_listed(unknown)} {'is not one of its inputs' if len(unknown) == 1 else 'are not'}")
        inputs = "the input" if len(expected) == 1 else "the inputs"
        raise InvalidInput(f"model {model_name!r} takes {inputs} {_listed(expected)}: {', and '.join(problems)}")


def check_rows(rows_per_input: dict[str, int], max_rows: int) -> int:
    """The request's row count, which every input must agree on: at least one, at most `max_rows`."""
    batch_sizes = set(rows_per_input.values())
    if len(batch_sizes) != 1:
        raise InvalidInput(f"inputs disagree on the number of rows: {rows_per_input}")
    rows = batch_sizes.pop()
    if rows == 0:
        raise InvalidInput("empty batch: send at least one row")
    if rows > max_rows:
        raise InvalidInput(f"batch of {rows} rows is over the limit of {max_rows} (MAX_BATCH_SIZE)")
    return rows


def _listed(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _shape(spec: InputSpec) -> str:
    """[rows, 64]: the shape a caller must send, in words and numbers."""
    return "[" + ", ".join(["rows", *(str(d) if d is not None else "any" for d in spec.row_shape)]) + "]"


_KINDS = {"O": "holds null or objects", "U": "holds text", "S": "holds text", "b": "holds true/false"}
_OTHER = "holds values that are not numbers"


def holds_bool(nested: object, depth: int) -> bool:
    """Whether a rectangular list `depth` deep holds true or false: numpy would silently read them as 1 and 0."""
    leaves = nested
    for _ in range(depth - 1):
        leaves = chain.from_iterable(leaves)
    return depth > 0 and bool in map(type, leaves)  # type: ignore[call-overload]


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in a float array: one BLAS dot product (its sum of squares is finite only if every value
    is), half what np.isfinite's reduction costs; np.isfinite decides when the squares overflow."""
    if math.isfinite(np.vdot(array, array)):
        return True
    return bool(np.isfinite(array).all())


def to_array(spec: InputSpec, raw: object, may_hold_booleans: bool = True) -> np.ndarray:
    """One numeric input's column, validated and converted to the input's dtype."""
    try:
        array = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
    except (ValueError, OverflowError):  # rows of different lengths, nesting past numpy's 64 levels, huge ints
        raise InvalidInput(
            f"input {spec.name!r} is not a rectangular array of numbers of shape {_shape(spec)}: check that every "
            "row has the same length and nesting"
        ) from None
    if array.ndim and array.shape[0] == 0:
        raise InvalidInput(f"empty batch: input {spec.name!r} has no rows; send at least one")
    if array.dtype.kind not in "iuf":
        # numpy refuses ragged rows itself (above); object dtype here means null or {...} where numbers belong.
        raise InvalidInput(f"input {spec.name!r} must hold numbers, but it {_KINDS.get(array.dtype.kind, _OTHER)}")
    if may_hold_booleans and not isinstance(raw, np.ndarray) and holds_bool(raw, array.ndim):
        raise InvalidInput(f"input {spec.name!r} must hold numbers, but it holds true/false")
    # Equal tuples: the shape fits (a dynamic dimension never equals one); else the walk that tells.
    if array.shape[1:] != spec.row_shape and (
        array.ndim != len(spec.shape)
        or any(want is not None and got != want for got, want in zip(array.shape[1:], spec.row_shape, strict=True))
    ):
        shape = "[" + ", ".join(map(str, array.shape)) + "]"
        raise InvalidInput(f"input {spec.name!r} has shape {shape}, expected {_shape(spec)}")
    if spec.dtype.kind == "f":
        converted = array.astype(spec.dtype, copy=False)  # a number too large becomes inf, refused just below
        if not all_finite(converted):
            raise InvalidInput(f"input {spec.name!r} holds NaN, infinity or a number too large for {spec.dtype}")
        return converted
    if array.dtype.kind == "f" and not all_finite(array):
        raise InvalidInput(f"input {spec.name!r} holds NaN or infinity")
    if array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
        raise InvalidInput(f"input {spec.name!r} takes integers ({spec.dtype}), got fractional numbers")
    info = np.iinfo(spec.dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise InvalidInput(f"input {spec.name!r} holds integers outside the {spec.dtype} range")
    return array.astype(spec.dtype, copy=False)

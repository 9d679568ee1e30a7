"""Open Inference Protocol v2 tensors: JSON and binary (Triton's binary_tensor_data extension) to numpy and back.

Pure functions, no HTTP: the routes in v2.py hand in bytes and headers and get arrays or bytes back. Binary
tensor data is little-endian, row-major, without padding, in the order the tensors appear in the JSON header.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ...contract.model_file import TEXT
from ...contract.repository import is_decimal
from ...core.errors import InvalidInput, as_sent
from ...core.inputs import holds_bool
from ..json_body import parse_json_object
from .bytes_tensors import size_mismatch, texts_from_json, texts_from_serialized

HEADER_LENGTH = "inference-header-content-length"
BINARY_EXTENSION = "binary_tensor_data"

# v2 datatype names for the numpy dtypes a tensor can carry here. BYTES is text (str objects, v2_bytes.py), as
# tritonclient holds it. BF16 (no numpy dtype) is a valid v2 type that no served model takes: refused by name.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": TEXT,
}
UNSUPPORTED_DATATYPES = {"BF16"}
_NATIVE_LITTLE = sys.byteorder == "little"
_INT = frozenset({int})
_NAMES_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items()}
_LITTLE_ENDIAN = {dtype: dtype.newbyteorder("<") for dtype in DATATYPES.values() if dtype != TEXT}
# Parameters asking for features this server does not have: refusing beats silently ignoring them.
UNSUPPORTED_PARAMETERS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset", "classification")
_UNSUPPORTED = frozenset(UNSUPPORTED_PARAMETERS)
_NONE: dict[str, Any] = {}  # no parameters (never written to)


def datatype_of(dtype: np.dtype) -> str:
    name = _NAMES_BY_DTYPE.get(dtype)  # a dtype object is its own key; anything else goes through np.dtype
    return name if name is not None else _NAMES_BY_DTYPE[np.dtype(dtype)]


@dataclass
class RequestedOutput:
    name: str
    binary: bool


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], memoryview]:
    """The JSON header and the binary tensor bytes after it (empty without Inference-Header-Content-Length)."""
    if header_length is None:
        return parse_json_object(body), memoryview(b"")
    text = header_length.strip()
    if not is_decimal(text):
        raise InvalidInput(f"Inference-Header-Content-Length must be a non-negative integer, got {as_sent(text)}")
    digits = text.lstrip("0") or "0"
    length = int(digits) if len(digits) <= 18 else -1  # bounded before int(), which raises past 4,300 digits
    if not 0 <= length <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length is {as_sent(text).strip(chr(34))} "  # digits only: shown without quotes
            f"but the body has only {len(body)} bytes"
        )
    return parse_json_object(body[:length]), memoryview(body)[length:]


def decode_inputs(
    header: dict[str, Any],
    binary: memoryview,
    model_dtypes: dict[str, np.dtype],
    booleans_possible: bool | Callable[[], bool] = True,
) -> dict[str, np.ndarray]:
    """Each input as an array of its declared shape; binary chunks are taken in input order.

    `model_dtypes` holds the model's input types: a known input declared with another datatype is refused,
    as Triton does. Unknown or missing input names are left to the core, which lists the expected ones.
    `booleans_possible=False` when the JSON header holds no true/false (json_body.may_hold_booleans): then JSON
    data is not scanned for them value by value; a callable is asked only if a tensor carries JSON data.
    """
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise InvalidInput(f"inputs[{index}] must be an object with a string 'name'")
        name = tensor["name"]
        if name in arrays:
            raise InvalidInput(f"input {name!r} is given twice")
        dtype, shape = _datatype_and_shape(tensor)
        check_model_dtype(name, dtype, model_dtypes)
        parameters = _parameters(tensor, "input", name)
        if "binary_data_size" in parameters:
            size = parameters["binary_data_size"]
            if "data" in tensor:
                raise InvalidInput(f"input {name!r} has both 'data' and binary_data_size; send one")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidInput(
                    f"input {name!r}: binary_data_size must be a non-negative integer, got {as_sent(size)}"
                )
            if offset + size > len(binary):
                raise InvalidInput(
                    f"input {name!r}: binary_data_size {size} runs past the end of the body "
                    f"({len(binary) - offset} binary bytes left; check Inference-Header-Content-Length)"
                )
            arrays[name] = from_bytes(name, binary[offset : offset + size], dtype, shape)
            offset += size
        elif "data" in tensor:
            if callable(booleans_possible):
                booleans_possible = booleans_possible()
            arrays[name] = _from_json(name, tensor["data"], dtype, shape, booleans_possible)
        else:
            raise InvalidInput(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
    if offset != len(binary):
        raise InvalidInput(
            f"the body has {len(binary) - offset} bytes after the tensors that no input's binary_data_size covers"
        )
    return arrays


def requested_outputs(header: dict[str, Any], available: list[str]) -> list[RequestedOutput]:
    """Which outputs to return and how: the `outputs` list, or every output; binary if asked for."""
    request_parameters = _parameters(header)
    binary_default = _flag(request_parameters, "binary_data_output")
    outputs = header.get("outputs")
    if outputs is None:
        return [RequestedOutput(name, binary_default) for name in available]
    if not isinstance(outputs, list):
        raise InvalidInput("'outputs' must be a list of {name, parameters}")
    chosen: list[RequestedOutput] = []
    for index, tensor in enumerate(outputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise InvalidInput(f"outputs[{index}] must be an object with a string 'name'")
        name = tensor["name"]
        if name not in available:
            raise InvalidInput(f"unknown output {name!r}; this model's outputs are {available}")
        parameters = _parameters(tensor, "output", name)
        binary = _flag(parameters, "binary_data", "output", name) if "binary_data" in parameters else binary_default
        chosen.append(RequestedOutput(name, binary))
    return chosen


def encode_response(
    document: dict[str, Any], outputs: list[tuple[RequestedOutput, np.ndarray]]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it (else None)."""
    tensors = []
    chunks = []
    for requested, array in outputs:
        tensor: dict[str, Any] = {"name": requested.name, "datatype": datatype_of(array.dtype), "shape": array.shape}
        if requested.binary:
            data = little_endian_bytes(array)
            tensor["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            tensor["data"] = array.ravel()
        tensors.append(tensor)
    document["outputs"] = tensors
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def little_endian_bytes(array: np.ndarray) -> bytes:
    """The array's values, row-major, little-endian: as they are when they already are (the common case: no new
    dtype and no copy before the one `tobytes` makes)."""
    order = array.dtype.byteorder
    if order in ("<", "|") or (order == "=" and _NATIVE_LITTLE):
        return array.tobytes()
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


def _datatype_and_shape(tensor: dict[str, Any]) -> tuple[np.dtype, tuple[int, ...]]:
    name, datatype, shape = tensor["name"], tensor.get("datatype"), tensor.get("shape")
    if not isinstance(datatype, str):
        raise InvalidInput(f"input {name!r}: 'datatype' must be a string such as \"FP32\", got {as_sent(datatype)}")
    dtype = dtype_of(name, datatype)
    # type() is int: not bool (which isinstance(d, int) would let through); compared at C speed.
    if not isinstance(shape, list) or (shape and (not _INT.issuperset(map(type, shape)) or min(shape) < 0)):
        raise InvalidInput(f"input {name!r}: 'shape' must be a list of non-negative integers, got {as_sent(shape)}")
    return dtype, tuple(shape)


def dtype_of(name: str, datatype: str) -> np.dtype:
    """The numpy dtype of input `name`'s v2 datatype, or InvalidInput naming what is accepted."""
    if datatype in UNSUPPORTED_DATATYPES:
        raise InvalidInput(f"input {name!r}: datatype {datatype} is not supported; these models take numbers and text")
    if datatype not in DATATYPES:
        raise InvalidInput(f"input {name!r}: unknown datatype {datatype!r}; use one of {sorted(DATATYPES)}")
    return DATATYPES[datatype]


def check_model_dtype(name: str, dtype: np.dtype, model_dtypes: dict[str, np.dtype]) -> None:
    """A known input declared with another datatype is refused, as Triton does; unknown names are the core's."""
    if name in model_dtypes and dtype != model_dtypes[name]:
        raise InvalidInput(f"input {name!r} takes datatype {datatype_of(model_dtypes[name])}, got {datatype_of(dtype)}")


def _parameters(owner: dict[str, Any], kind: str = "", name: str = "") -> dict[str, Any]:
    """The `parameters` object of the request (no kind) or of an input or output tensor (kind, name)."""
    parameters = owner.get("parameters")
    if parameters is None:
        return _NONE
    if not isinstance(parameters, dict):
        raise InvalidInput(f"'parameters' of {_what(kind, name)} must be an object")
    if not _UNSUPPORTED.isdisjoint(parameters):
        key = next(key for key in UNSUPPORTED_PARAMETERS if key in parameters)
        raise InvalidInput(f"parameter {key!r} of {_what(kind, name)} is not supported by this server")
    return parameters


def _flag(parameters: dict[str, Any], key: str, kind: str = "", name: str = "") -> bool:
    value = parameters.get(key, False)
    if value is not True and value is not False:
        raise InvalidInput(f"parameter {key!r} of {_what(kind, name)} must be true or false, got {as_sent(value)}")
    return value


def _what(kind: str, name: str) -> str:
    """What a message is about, written only when there is a message."""
    return f"{kind} {name!r}" if kind else "the request"


def from_bytes(
    name: str, data: memoryview | bytes, dtype: np.dtype, shape: tuple[int, ...], size_name: str = "binary_data_size"
) -> np.ndarray:
    if dtype == TEXT:
        return texts_from_serialized(
            name, data, shape, "the binary data" if size_name == "binary_data_size" else size_name
        )
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise InvalidInput(
            f"input {name!r}: {size_name} is {len(data)} bytes but shape {list(shape)} of "
            f"{datatype_of(dtype)} needs {expected}"
        )
    # Straight from the request bytes: no per-element Python objects on the path for large tensors.
    little = _LITTLE_ENDIAN.get(dtype) or dtype.newbyteorder("<")
    return _reshape(name, np.frombuffer(data, little), shape)


def _from_json(name: str, data: Any, dtype: np.dtype, shape: tuple[int, ...], booleans_possible: bool) -> np.ndarray:
    if dtype == TEXT:
        return texts_from_json(name, data, shape)
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a (flat or nested) list")
    try:
        array = np.asarray(data)
    except (ValueError, OverflowError):
        array = None
    if array is None or array.dtype.kind == "O":
        raise InvalidInput(f"input {name!r}: 'data' is not a rectangular list of numbers")
    if array.size != math.prod(shape):
        raise size_mismatch(name, "'data'", array.size, shape)
    kind = "b" if dtype.kind == "b" else ("f" if dtype.kind == "f" else "iu")
    # An empty list has no element type to check (numpy gives float64).
    if array.size and array.dtype.kind not in kind and not (kind == "f" and array.dtype.kind in "iu"):
        wanted = {"b": "true/false", "f": "numbers", "iu": "integers"}[kind]
        raise InvalidInput(f"input {name!r}: datatype {datatype_of(dtype)} takes {wanted} in 'data'")
    if kind != "b" and booleans_possible and holds_bool(data, array.ndim):
        raise InvalidInput(f"input {name!r}: datatype {datatype_of(dtype)} takes numbers in 'data', not true/false")
    # Keep numpy's own type: the core converts to the model's dtype and checks range and finiteness.
    return _reshape(name, array, shape)


def _reshape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return array.reshape(shape)
    except (ValueError, OverflowError):  # e.g. [0, 10**30]: no elements, but more than numpy can index
        raise InvalidInput(f"input {name!r}: shape {list(shape)} is not a shape numpy can hold") from None


def request_threshold(header: dict[str, Any]) -> object:
    """The request-level `threshold` parameter (a number or {label: number}); the core validates it."""
    return _parameters(header).get("threshold")

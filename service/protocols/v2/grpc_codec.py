"""Open Inference Protocol v2 gRPC tensors: ModelInferRequest to numpy arrays, and results to ModelInferResponse.

Pure functions over the generated messages, no gRPC calls. Inputs come as typed `contents` (one repeated field per
datatype) or as `raw_input_contents` (little-endian bytes, one entry per input in order, decoded with
np.frombuffer, never element by element; BYTES: length-prefixed UTF-8 texts, see v2_bytes.py). Outputs go back
the way the inputs came: raw bytes for raw inputs (what tritonclient reads), typed contents for typed inputs. Same
refusals and words as the REST codec (v2_codec.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from ...core.errors import InvalidInput
from .bytes_tensors import size_mismatch, texts_from_elements
from .codec import UNSUPPORTED_PARAMETERS, check_model_dtype, datatype_of, dtype_of, from_bytes, little_endian_bytes
from .messages import grpc_service_pb2 as pb

# Which repeated field of InferTensorContents holds each datatype (FP16 travels as raw contents only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# Request parameters asking for Triton features this server does not have.
_UNSUPPORTED_REQUEST_PARAMETERS = ("sequence_id", "sequence_start", "sequence_end")


def decode_inputs(request: pb.ModelInferRequest, model_dtypes: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    """Each input as an array of its declared shape. Unknown or missing input names are left to the core."""
    if not request.inputs:
        raise InvalidInput("'inputs' must hold at least one tensor")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents holds {len(raw)} tensors but 'inputs' lists {len(request.inputs)}; "
            "send one per input, in the order of 'inputs'"
        )
    arrays: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if not name:
            raise InvalidInput(f"inputs[{index}] has no name")
        if name in arrays:
            raise InvalidInput(f"input {name!r} is given twice")
        dtype = dtype_of(name, tensor.datatype)
        check_model_dtype(name, dtype, model_dtypes)
        if any(d < 0 for d in tensor.shape):
            raise InvalidInput(f"input {name!r}: 'shape' must hold non-negative integers, got {list(tensor.shape)}")
        shape = tuple(tensor.shape)
        _check_parameters(tensor.parameters, f"input {name!r}")
        has_contents = tensor.HasField("contents")
        if raw:
            if has_contents:
                raise InvalidInput(f"input {name!r} has 'contents' although raw_input_contents is used; send one")
            arrays[name] = from_bytes(name, raw[index], dtype, shape, "raw_input_contents")
        elif has_contents:
            arrays[name] = _from_contents(name, tensor.contents, tensor.datatype, shape)
        else:
            raise InvalidInput(f"input {name!r} has neither 'contents' nor raw_input_contents")
    return arrays


def requested_outputs(request: pb.ModelInferRequest, available: list[str]) -> list[str]:
    """The output names asked for, in order; every output when none is named."""
    if not request.outputs:
        return list(available)
    names = []
    for tensor in request.outputs:
        if tensor.name not in available:
            raise InvalidInput(f"unknown output {tensor.name!r}; this model's outputs are {available}")
        _check_parameters(tensor.parameters, f"output {tensor.name!r}")
        names.append(tensor.name)
    return names


def request_threshold(request: pb.ModelInferRequest) -> object:
    """The `threshold` parameter: a number, or JSON text (a number or {label: number}); the core validates it."""
    parameters = request.parameters
    for key in _UNSUPPORTED_REQUEST_PARAMETERS:
        if key in parameters:
            raise InvalidInput(f"parameter {key!r} is not supported: this server has no sequence batching")
    _check_parameters(parameters, "the request")
    if "threshold" not in parameters:
        return None
    value = parameter_value(parameters["threshold"])
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidInput(f"parameter 'threshold' must be a number or JSON text, got {value!r}") from None
    return value


def request_timeout_ms(request: pb.ModelInferRequest) -> float | None:
    """Triton's `timeout` request parameter (microseconds), as tritonclient's infer(timeout=...) sends it."""
    if "timeout" not in request.parameters:
        return None
    value = parameter_value(request.parameters["timeout"])
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"parameter 'timeout' must be a positive number of microseconds, got {value!r}")
    return value / 1000.0


def parameter_value(parameter: pb.InferParameter) -> Any:
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


def encode_response(
    response: pb.ModelInferResponse, tensors: dict[str, np.ndarray], names: list[str], raw: bool
) -> pb.ModelInferResponse:
    """Adds the named tensors to `response`: as raw_output_contents (little-endian bytes) or typed contents."""
    for name in names:
        array = tensors[name]
        datatype = datatype_of(array.dtype)
        output = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            response.raw_output_contents.append(little_endian_bytes(array))
        else:
            getattr(output.contents, CONTENTS_FIELDS[datatype]).extend(array.ravel().tolist())
    return response


def _from_contents(name: str, contents: pb.InferTensorContents, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        raise InvalidInput(f"input {name!r}: datatype {datatype} travels in raw_input_contents only")
    filled = [f.name for f, _ in contents.ListFields()]
    if filled and filled != [field]:
        raise InvalidInput(f"input {name!r}: datatype {datatype} takes its values in contents.{field}, got {filled}")
    values = getattr(contents, field)
    if datatype == "BYTES":
        return texts_from_elements(name, values, shape, f"contents.{field}")
    if len(values) != math.prod(shape):
        raise size_mismatch(name, f"contents.{field}", len(values), shape)
    # The field's own type (int32 for INT8..INT32, and so on): the core converts to the model's dtype and checks
    # range and finiteness, as it does for JSON.
    array = np.array(values, dtype=_FIELD_DTYPES[field])
    try:
        return array.reshape(shape)
    except (ValueError, OverflowError):
        raise InvalidInput(f"input {name!r}: shape {list(shape)} is not a shape numpy can hold") from None


_FIELD_DTYPES = {
    "bool_contents": np.bool_,
    "int_contents": np.int32,
    "int64_contents": np.int64,
    "uint_contents": np.uint32,
    "uint64_contents": np.uint64,
    "fp32_contents": np.float32,
    "fp64_contents": np.float64,
}


def _check_parameters(parameters: Any, what: str) -> None:
    for key in UNSUPPORTED_PARAMETERS:
        if key in parameters:
            raise InvalidInput(f"parameter {key!r} of {what} is not supported by this server")

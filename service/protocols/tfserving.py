"""TensorFlow Serving's REST API: model status, metadata and :predict in the row (`instances`) and columnar
(`inputs`) formats. Translates to the core and back, nothing else.

Every model answers with three outputs per row: `probabilities`, `logits` and `multi_hot` (0/1 per label,
probability >= threshold), in the order of the model's labels (see /v1/models/{name}/metadata).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from ..contract.metadata import OUTPUT_LOGITS, OUTPUT_PROBABILITIES
from ..core.errors import InvalidInput
from ..core.types import DRAINING, FAILED, LOADING, READY, InferenceResult, ModelDescription, ModelHandle
from .examples import (
    TFSERVING_METADATA_EXAMPLE,
    TFSERVING_PREDICT_RESPONSE_EXAMPLE,
    TFSERVING_STATUS_EXAMPLE,
    ModelName,
    ModelVersionText,
    NameAndVerb,
    VersionAndVerb,
    ok_example,
)
from .http_adapter import (
    Answer,
    HttpCall,
    LeanRoute,
    data_plane,
    error_responses,
    json_answer,
    json_response,
    lean_post,
    parse_version,
)
from .json_body import may_hold_booleans, parse_json_object
from .protocol_schemas import TF_PREDICT_DOC

router = APIRouter(prefix="/v1/models", tags=["TensorFlow Serving REST"])
# The hot path: the fast lane calls these without the router's walk (see fast_lane.py).
predict_router = APIRouter(prefix="/v1/models", tags=["TensorFlow Serving REST"], route_class=LeanRoute)

SIGNATURE = "serving_default"
OUTPUT_MULTI_HOT = "multi_hot"
BODY_FIELDS = {"instances", "inputs", "signature_name", "threshold"}
_TF_DTYPES = {
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "object": "DT_STRING",  # a text input: one string per row
}
RESPONSES = {**ok_example(TFSERVING_PREDICT_RESPONSE_EXAMPLE), **error_responses(400, 404, 413, 415, 503)}


@router.get("/{name}", responses={**ok_example(TFSERVING_STATUS_EXAMPLE), **error_responses(400, 404)})
async def model_status(name: ModelName, request: Request) -> Response:
    """State of the model's version, TF Serving style (AVAILABLE once it is loaded and warmed up)."""
    return json_response({"model_version_status": [_version_status(data_plane(request).describe(name))]})


@router.get(
    "/{name}/versions/{version}", responses={**ok_example(TFSERVING_STATUS_EXAMPLE), **error_responses(400, 404)}
)
async def model_version_status(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """State of one version; 404 unless it is the version being served."""
    model = data_plane(request).describe(name, parse_version(version))
    return json_response({"model_version_status": [_version_status(model)]})


@router.get("/{name}/metadata", responses={**ok_example(TFSERVING_METADATA_EXAMPLE), **error_responses(400, 404, 503)})
async def model_metadata(name: ModelName, request: Request) -> Response:
    """The serving_default signature: inputs and outputs with dtypes and shapes (-1 = any), plus labels."""
    return json_response(_metadata(data_plane(request).lookup(name)))


@router.get(
    "/{name}/versions/{version}/metadata",
    responses={**ok_example(TFSERVING_METADATA_EXAMPLE), **error_responses(400, 404, 503)},
)
async def model_version_metadata(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """Like /v1/models/{name}/metadata, refused unless `version` is the one served."""
    return json_response(_metadata(data_plane(request).lookup(name, parse_version(version))))


# TF Serving puts the verb after a colon in the last segment (`/v1/models/digits:predict`); the segment is
# split by hand so that an unknown verb gets a message instead of a bare 404/405.
@lean_post(predict_router, "/{name_and_verb}", responses=RESPONSES, openapi_extra=TF_PREDICT_DOC)
async def predict(call: HttpCall, name_and_verb: NameAndVerb) -> Answer:
    """`POST /v1/models/{name}:predict` with {"instances": [...]} or {"inputs": ...}."""
    return await _predict(call, _strip_verb(name_and_verb), None)


@lean_post(predict_router, "/{name}/versions/{version_and_verb}", responses=RESPONSES, openapi_extra=TF_PREDICT_DOC)
async def predict_version(call: HttpCall, name: ModelName, version_and_verb: VersionAndVerb) -> Answer:
    """`POST /v1/models/{name}/versions/{version}:predict`, refused unless `version` is the one served."""
    return await _predict(call, name, parse_version(_strip_verb(version_and_verb)))


async def _predict(call: HttpCall, name: str, version: int | None) -> Answer:
    plane = call.plane
    served = plane.lookup(name, version)  # unknown model: 404 before reading a body for it
    body = await call.json_body()
    document = parse_json_object(body)
    unknown = set(document) - BODY_FIELDS
    if unknown:
        raise InvalidInput(f"unknown field(s) {sorted(unknown)}; the body takes {sorted(BODY_FIELDS)}")
    signature = document.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise InvalidInput(f"unknown signature_name {signature!r}; the only signature is {SIGNATURE!r}")
    if ("instances" in document) == ("inputs" in document):
        raise InvalidInput("send exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    fields = {"threshold": document.get("threshold"), "may_hold_booleans": may_hold_booleans(body)}
    if b'"b64"' in body:  # TF Serving's binary strings; the scan is skipped for the bodies that hold none
        try:
            document = {key: _decode_b64(value) for key, value in document.items()}
        except RecursionError:
            raise InvalidInput("the body nests lists or objects too deeply") from None
    if "instances" in document:
        core_request = call.inference_request(instances=document["instances"], **fields)
    else:
        core_request = call.inference_request(inputs=_columnar_columns(served, document["inputs"]), **fields)
    result = await plane.infer(served, core_request)
    outputs = _outputs(result)
    if "instances" in document:
        rows = [{key: value[i] for key, value in outputs.items()} for i in range(result.rows)]
        return json_answer({"predictions": rows})
    return json_answer({"outputs": outputs})


def _outputs(result: InferenceResult) -> dict[str, np.ndarray]:
    return {
        OUTPUT_PROBABILITIES: result.probabilities,
        OUTPUT_LOGITS: result.logits,
        OUTPUT_MULTI_HOT: result.multi_hot,
    }


def _decode_b64(value: Any) -> Any:
    """TF Serving's binary strings, {"b64": "..."}, as the UTF-8 text they encode (a text model reads text)."""
    if isinstance(value, list):
        return [_decode_b64(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) != {"b64"}:
        return {key: _decode_b64(item) for key, item in value.items()}
    try:
        data = base64.b64decode(value["b64"], validate=True)
    except (TypeError, ValueError):  # binascii.Error is a ValueError
        raise InvalidInput('a {"b64": ...} value must hold a base64 string') from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f'a {{"b64": ...}} value is not UTF-8 text (byte {exc.start}: {exc.reason})') from None


def _columnar_columns(model: ModelHandle, inputs: Any) -> dict[str, object]:
    """Columnar format: {input: batch} for any model, or just the batch for a one-input model."""
    if isinstance(inputs, dict):
        return inputs
    if len(model.input_names) == 1:
        return {model.input_names[0]: inputs}
    raise InvalidInput(f"model {model.name!r} takes inputs {model.input_names}: 'inputs' must be an object")


def _version_status(model: ModelDescription) -> dict[str, Any]:
    version = model.version or 0
    if model.state == READY:
        return _status_entry(version, "AVAILABLE", "OK", "")
    if model.state == DRAINING:
        return _status_entry(version, "UNLOADING", "OK", "")
    if model.state == LOADING:
        return _status_entry(version, "LOADING", "OK", "")
    # FAILED or UNLOADED: TF Serving's END, with the reason
    return _status_entry(version, "END", "UNKNOWN" if model.state == FAILED else "OK", model.reason or "")


def _status_entry(version: int, state: str, code: str, message: str) -> dict[str, Any]:
    return {"version": str(version), "state": state, "status": {"error_code": code, "error_message": message}}


def _metadata(model: ModelHandle) -> dict[str, Any]:
    n_labels = len(model.labels)
    outputs = {
        OUTPUT_PROBABILITIES: _tensor_info(OUTPUT_PROBABILITIES, "DT_FLOAT", [None, n_labels]),
        OUTPUT_LOGITS: _tensor_info(OUTPUT_LOGITS, "DT_FLOAT", [None, n_labels]),
        OUTPUT_MULTI_HOT: _tensor_info(OUTPUT_MULTI_HOT, "DT_UINT8", [None, n_labels]),
    }
    inputs = {s.name: _tensor_info(s.name, _TF_DTYPES[s.dtype.name], list(s.shape)) for s in model.inputs}
    signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
        # Not in TF Serving's metadata, but a caller needs them to read the outputs' columns.
        "labels": model.labels,
        "thresholds": model.thresholds,  # float32: orjson writes 0.3, not 0.30000001192092896
    }


def _tensor_info(name: str, dtype: str, shape: list[int | None]) -> dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in shape]
    return {"dtype": dtype, "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}


def _strip_verb(segment: str) -> str:
    target, _, verb = segment.rpartition(":")
    if not target:
        raise InvalidInput(f"expected '{segment}:predict' in the path")
    if verb != "predict":
        raise InvalidInput(f"verb ':{verb}' is not supported; this server implements ':predict'")
    return target

"""The native REST API: /predict, /models, /health. Translates JSON to the core and back, nothing else."""

from __future__ import annotations

from itertools import compress
from typing import Any

from fastapi import APIRouter, Request, Response

from ..core.errors import InvalidInput
from ..core.types import InferenceResult, InputSpec, ModelDescription
from .examples import ModelName, ModelVersion, ok_example
from .http_adapter import (
    Answer,
    HttpCall,
    LeanRoute,
    data_plane,
    error_responses,
    json_answer,
    json_response,
    lean_post,
)
from .json_body import may_hold_booleans, parse_json_object
from .native_schema import (
    MODEL_INFO_EXAMPLE,
    PREDICT_REQUEST_EXAMPLES,
    PREDICT_RESPONSE_EXAMPLE,
    READY_EXAMPLE,
    ModelInfo,
    PredictRequest,
    PredictResponse,
)

router = APIRouter()
predict_router = APIRouter(route_class=LeanRoute)  # the hot path: no per-request dependency solving

PREDICT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}"),
                "examples": PREDICT_REQUEST_EXAMPLES,
            }
        },
    }
}
PREDICT_RESPONSES = {
    200: {"model": PredictResponse, **ok_example(PREDICT_RESPONSE_EXAMPLE)[200]},
    **error_responses(400, 404, 413, 415, 503),
}


@lean_post(predict_router, "/predict", tags=["native"], openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES)
async def predict_default(call: HttpCall) -> Answer:
    """Predict with the default model (DEFAULT_MODEL, or the only model in the repository)."""
    return await _predict(call, None, None)


@lean_post(
    predict_router, "/models/{name}/predict", tags=["native"], openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES
)
async def predict(call: HttpCall, name: ModelName) -> Answer:
    """Per-label probabilities and thresholded multi-hot predictions for a batch of instances."""
    return await _predict(call, name, None)


@lean_post(
    predict_router,
    "/models/{name}/versions/{version}/predict",
    tags=["native"],
    openapi_extra=PREDICT_DOC,
    responses=PREDICT_RESPONSES,
)
async def predict_version(call: HttpCall, name: ModelName, version: ModelVersion) -> Answer:
    """Like /models/{name}/predict, refused unless `version` is the one served."""
    return await _predict(call, name, version)


async def _predict(call: HttpCall, name: str | None, version: int | None) -> Answer:
    plane = call.plane
    served = plane.lookup(name, version)  # unknown model: 404 before reading a body for it
    body = await call.json_body()
    document = parse_json_object(body)
    unknown = set(document) - {"instances", "threshold"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {sorted(unknown)}; the body takes 'instances' and 'threshold'")
    if "instances" not in document:
        raise InvalidInput("'instances' must be a list with one entry per example")
    instances = document["instances"]
    if served.input_aliases:
        instances = resolve_aliases(instances, served.input_aliases)
    core_request = call.inference_request(
        instances=instances, threshold=document.get("threshold"), may_hold_booleans=may_hold_booleans(body)
    )
    return json_answer(encode_result(await plane.infer(served, core_request)))


def resolve_aliases(instances: Any, aliases: dict[str, str]) -> Any:
    """Instances whose keys may be a model's input aliases ({"text": ...} for its one text input), with each alias
    replaced by the input it names."""
    if not isinstance(instances, list):
        return instances  # the core says what is wrong with it
    resolved = []
    for position, row in enumerate(instances):
        if isinstance(row, dict) and not aliases.keys().isdisjoint(row):
            row = dict(row)
            for alias, name in aliases.items():
                if alias in row:
                    if name in row:
                        raise InvalidInput(f"instance {position} gives input {name!r} twice: as {name!r} and {alias!r}")
                    row[name] = row.pop(alias)
        resolved.append(row)
    return resolved


def encode_result(result: InferenceResult) -> dict[str, Any]:
    labels, probabilities = result.labels, result.probabilities
    # Python lists once per result (not per row); probabilities stay float32 rows: orjson writes them natively,
    # in float32's shortest form. Rows by index: iterating an array ends in an IndexError numpy formats.
    multi_hot = result.multi_hot.tolist()
    return {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "labels": labels,
        "predictions": [
            {"probabilities": probabilities[i], "multi_hot": hot, "labels": list(compress(labels, hot))}
            for i, hot in enumerate(multi_hot)
        ],
    }


@router.get(
    "/models",
    tags=["native"],
    response_model=list[ModelInfo],
    responses=ok_example([MODEL_INFO_EXAMPLE]),
)
async def list_models(request: Request) -> Response:
    """Every model in the repository, served or not."""
    return json_response([model_info(d) for d in data_plane(request).describe_all()])


@router.get(
    "/models/{name}",
    tags=["native"],
    response_model=ModelInfo,
    responses={**ok_example(MODEL_INFO_EXAMPLE), **error_responses(400, 404)},
)
async def get_model(name: ModelName, request: Request) -> Response:
    """Labels, thresholds, inputs, versions and export provenance of one model."""
    return json_response(model_info(data_plane(request).describe(name)))


def model_info(model: ModelDescription) -> dict[str, Any]:
    served = model.state in ("ready", "draining")
    return {
        "name": model.name,
        "ready": model.ready,
        "state": model.state,
        "version": model.version if served else None,
        "versions": model.versions,
        "labels": model.labels,
        "thresholds": model.thresholds,
        "inputs": [_input_info(spec, model) for spec in model.inputs],
        "outputs": ["probabilities", "logits"] if served else [],
        "provenance": model.provenance,
        "error": model.reason,
        "ignored": model.ignored,
        "reference_rates": model.reference_rates,
        "calibration": model.calibration,
        "optimization": model.optimization,
    }


def _input_info(spec: InputSpec, model: ModelDescription) -> dict[str, Any]:
    dtype = "text" if spec.is_text else spec.dtype.name  # a text input takes one string per row
    info = {"name": spec.name, "dtype": dtype, "shape": [-1 if d is None else d for d in spec.shape]}
    aliases = [alias for alias, name in model.input_aliases.items() if name == spec.name]
    if aliases:
        info["aliases"] = aliases
    if spec.name in model.text_rules:
        info.update(model.text_rules[spec.name])
    return info


@router.get("/health/live", tags=["health"], responses=ok_example({"status": "live"}))
async def live() -> Response:
    """200 while the process answers. Never depends on a model."""
    return json_response({"status": "live"})


@router.get(
    "/health/ready",
    tags=["health"],
    responses={**ok_example(READY_EXAMPLE), **error_responses(503)},
)
async def ready(request: Request) -> Response:
    """200 when every model is loaded and warmed up; 503 with the reasons otherwise. `problems` lists what is wrong
    in the repository without stopping service (ignored files, a rejected newer version)."""
    readiness = data_plane(request).ready()
    if not readiness.ready:
        reasons = readiness.reasons
        body = {"status": "not ready", "error": "; ".join(reasons), "reasons": reasons, "problems": readiness.problems}
        return json_response(body, 503)
    return json_response({"status": "ready", "models": readiness.served, "problems": readiness.problems})

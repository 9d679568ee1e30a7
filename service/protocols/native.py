"""The native REST API: /predict, /models, /health. Translates JSON to the core and back, nothing else."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .. import health
from ..core.errors import InvalidInput
from ..core.model import LoadedModel
from ..core.registry import ModelState
from ..core.types import InferenceRequest, InferenceResult
from .examples import ModelName, ModelVersion, ok_example
from .http import LeanRoute, error_responses, json_response, read_json_object, service_state
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


@predict_router.post("/predict", tags=["native"], openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES)
async def predict_default(request: Request) -> Response:
    """Predict with the default model (DEFAULT_MODEL, or the only model in the repository)."""
    return await _predict(request, service_state(request).registry.default_model_name(), None)


@predict_router.post("/models/{name}/predict", tags=["native"], openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES)
async def predict(name: ModelName, request: Request) -> Response:
    """Per-label probabilities and thresholded multi-hot predictions for a batch of instances."""
    return await _predict(request, name, None)


@predict_router.post(
    "/models/{name}/versions/{version}/predict", tags=["native"], openapi_extra=PREDICT_DOC, responses=PREDICT_RESPONSES
)
async def predict_version(name: ModelName, version: ModelVersion, request: Request) -> Response:
    """Like /models/{name}/predict, refused unless `version` is the one served."""
    return await _predict(request, name, version)


async def _predict(request: Request, name: str, version: int | None) -> Response:
    state = service_state(request)
    state.registry.state(name)  # unknown model: 404 before reading a body for it
    document = await read_json_object(request)
    unknown = set(document) - {"instances", "threshold"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {sorted(unknown)}; the body takes 'instances' and 'threshold'")
    instances = document.get("instances")
    if not isinstance(instances, list):
        raise InvalidInput("'instances' must be a list with one entry per example")
    model = state.registry.get(name, version).model
    core_request = InferenceRequest(name, _columns(model, instances), version, document.get("threshold"))
    return json_response(encode_result(await state.inference.infer(core_request)))


def _columns(model: LoadedModel, instances: list[Any]) -> dict[str, object]:
    """Row format to named columns: a list of rows for one input, a list of {input: value} for several."""
    if len(model.inputs) == 1 and not (instances and isinstance(instances[0], dict)):
        return {model.inputs[0].name: instances}
    if not all(isinstance(row, dict) for row in instances):
        raise InvalidInput(f"model {model.name!r} takes inputs {model.input_names}: each instance must be an object")
    names = model.input_names
    for i, row in enumerate(instances):
        if set(row) != set(names):
            raise InvalidInput(f"instance {i} has keys {sorted(row)}, expected {names}")
    return {name: [row[name] for row in instances] for name in names}


def encode_result(result: InferenceResult) -> dict[str, Any]:
    labels = result.labels
    # Python lists once per result (not per row); probabilities stay float32 rows: orjson writes them natively,
    # in float32's shortest form.
    multi_hot = result.multi_hot.tolist()
    return {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "labels": labels,
        "predictions": [
            {"probabilities": row, "multi_hot": hot, "labels": [x for x, h in zip(labels, hot, strict=True) if h]}
            for row, hot in zip(result.probabilities, multi_hot, strict=True)
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
    return json_response([model_info(s) for s in service_state(request).registry.models.values()])


@router.get(
    "/models/{name}",
    tags=["native"],
    response_model=ModelInfo,
    responses={**ok_example(MODEL_INFO_EXAMPLE), **error_responses(400, 404)},
)
async def get_model(name: ModelName, request: Request) -> Response:
    """Labels, thresholds, inputs, versions and export provenance of one model."""
    return json_response(model_info(service_state(request).registry.state(name)))


def model_info(state: ModelState) -> dict[str, Any]:
    model = state.served.model if state.served else None
    return {
        "name": state.name,
        "ready": state.ready,
        "version": model.version if model else None,
        "versions": state.versions,
        "labels": model.labels if model else [],
        "thresholds": model.thresholds if model else [],
        "inputs": [
            {"name": s.name, "dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape]}
            for s in (model.inputs if model else [])
        ],
        "outputs": ["probabilities", "logits"] if model else [],
        "provenance": {k: v for k, v in model.metadata.items() if k not in ("labels", "thresholds")} if model else {},
        "error": state.error,
    }


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
    """200 when every model is loaded and warmed up; 503 with the reasons otherwise."""
    state = service_state(request)
    reasons = health.not_ready_reasons(state)
    if reasons:
        return json_response({"status": "not ready", "error": "; ".join(reasons), "reasons": reasons}, 503)
    return json_response(
        {"status": "ready", "models": {n: s.served.model.version for n, s in state.registry.models.items() if s.served}}
    )

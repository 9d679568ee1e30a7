"""KServe Open Inference Protocol v2 over REST, as Triton and KServe serve it, with Triton's binary tensor
extension. Routes only: tensors are (de)coded in v2_codec, inference happens in the core.

Outputs of every model: `probabilities` (FP32) and `logits` (FP32), both [rows, labels], and `predictions`
(BOOL [rows, labels]: probability >= threshold, the multi-hot vector).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ...core.errors import InvalidInput, UnsupportedMediaType, as_sent
from ...core.types import ModelDescription
from ..examples import (
    DEMO_MODEL,
    V2_HEALTH_EXAMPLES,
    V2_INFER_RESPONSE_EXAMPLE,
    V2_MODEL_METADATA_EXAMPLE,
    V2_MODEL_READY_EXAMPLE,
    V2_SERVER_METADATA_EXAMPLE,
    ModelName,
    ModelVersionText,
    ok_example,
)
from ..http_adapter import (
    JSON_TYPES,
    Answer,
    HttpCall,
    LeanRoute,
    data_plane,
    error_responses,
    json_response,
    lean_post,
    parse_version,
)
from ..json_body import may_hold_booleans
from ..protocol_schemas import V2_INFER_DOC
from . import documents
from .codec import (
    BINARY_EXTENSION,
    HEADER_LENGTH,
    decode_inputs,
    encode_response,
    request_threshold,
    requested_outputs,
    split_body,
)
from .documents import MODEL_EXTENSIONS, OUTPUTS, output_tensor

# Triton's names: binary tensors (codec.py), model repository control (repository.py), model configuration
# and statistics (triton.py).
EXTENSIONS = [BINARY_EXTENSION, *MODEL_EXTENSIONS]

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])
# The hot path: included ahead of the other routers (FastAPI tries routes in order) and without per-request
# dependency solving.
infer_router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"], route_class=LeanRoute)

BINARY_TYPES = ("application/octet-stream",)
BINARY = BINARY_TYPES[0].encode()


@router.get("", responses=ok_example(V2_SERVER_METADATA_EXAMPLE))
async def server_metadata(request: Request) -> Response:
    """Server name, version and the protocol extensions it implements."""
    return json_response({"name": request.app.title, "version": request.app.version, "extensions": EXTENSIONS})


@router.get("/health/live", responses={**ok_example(V2_HEALTH_EXAMPLES["live"]), **error_responses(503)})
async def live(request: Request) -> Response:
    """200 while the process answers."""
    return _status({"live": data_plane(request).live()})


@router.get("/health/ready", responses={**ok_example(V2_HEALTH_EXAMPLES["ready"]), **error_responses(503)})
async def ready(request: Request) -> Response:
    """200 when every model is loaded and warmed up, else 503 (the body says why)."""
    readiness = data_plane(request).ready()
    reasons = {"error": "; ".join(readiness.reasons)} if readiness.reasons else {}
    return _status({"ready": readiness.ready, **reasons}, "ready")


# Not ready is a 400 with {"ready": false, "error": why}, as Triton answers (the Open Inference Protocol asks for a
# 4xx): the server is fine, the model is not. A model or version the repository does not hold is a 404, as on every
# other endpoint, so a client can tell a typo from a model still loading. gRPC ModelReady says the same with OK +
# ready=false and NOT_FOUND.
MODEL_READY_RESPONSES = {**ok_example(V2_MODEL_READY_EXAMPLE), **error_responses(400, 404)}
MODEL_READY_RESPONSES[400]["description"] = (
    "Not ready: loading, failed to load, another version served, or shutting down (or a malformed version)"
)
MODEL_READY_RESPONSES[400]["content"]["application/json"]["example"] = {
    "name": DEMO_MODEL,
    "ready": False,
    "error": f"model {DEMO_MODEL!r} is not loaded: still loading",
}
MODEL_READY_RESPONSES[404]["description"] = "Unknown model, or a version the repository does not hold"


@router.get("/models/{name}/ready", responses=MODEL_READY_RESPONSES)
async def model_ready(name: ModelName, request: Request) -> Response:
    """200 when the model is served, 400 when it is not (yet), 404 for a model the repository does not hold."""
    return _model_ready(request, name, None)


@router.get("/models/{name}/versions/{version}/ready", responses=MODEL_READY_RESPONSES)
async def model_version_ready(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """200 when this version is the one served, 400 when it is not (yet), 404 when it is not in the repository."""
    return _model_ready(request, name, parse_version(version))


@router.get("/models/{name}", responses={**ok_example(V2_MODEL_METADATA_EXAMPLE), **error_responses(400, 404, 503)})
async def model_metadata(name: ModelName, request: Request) -> Response:
    """Inputs, outputs, versions and platform; labels and thresholds (JSON lists) in `parameters`."""
    return json_response(_model_metadata(request, name, None))


@router.get(
    "/models/{name}/versions/{version}",
    responses={**ok_example(V2_MODEL_METADATA_EXAMPLE), **error_responses(400, 404, 503)},
)
async def model_version_metadata(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """Like /v2/models/{name}, refused unless `version` is the one served."""
    return json_response(_model_metadata(request, name, parse_version(version)))


INFER_RESPONSES = {**ok_example(V2_INFER_RESPONSE_EXAMPLE), **error_responses(400, 404, 413, 415, 503)}


@lean_post(infer_router, "/models/{name}/infer", responses=INFER_RESPONSES, openapi_extra=V2_INFER_DOC)
async def infer(call: HttpCall, name: ModelName) -> Answer:
    """Inference with JSON tensors and/or binary tensors after the JSON header (Inference-Header-Content-Length)."""
    return await _infer(call, name, None)


@lean_post(
    infer_router, "/models/{name}/versions/{version}/infer", responses=INFER_RESPONSES, openapi_extra=V2_INFER_DOC
)
async def infer_version(call: HttpCall, name: ModelName, version: ModelVersionText) -> Answer:
    """Like /v2/models/{name}/infer, refused unless `version` is the one served."""
    return await _infer(call, name, parse_version(version))


async def _infer(call: HttpCall, name: str, version: int | None) -> Answer:
    plane = call.plane
    served = plane.lookup(name, version)  # unknown model: 404 before reading a body for it
    _check_content_type(call)
    body = await call.body()
    header, binary = split_body(body, call.header(b"inference-header-content-length"))
    arrays = decode_inputs(header, binary, served.input_dtypes, lambda: may_hold_booleans(body[: -len(binary) or None]))
    outputs = requested_outputs(header, OUTPUTS)
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"'id' must be a string, got {as_sent(request_id)}")
    core_request = call.inference_request(inputs=arrays, threshold=request_threshold(header))
    result = await plane.infer(served, core_request)
    document: dict[str, Any] = {"model_name": result.model_name, "model_version": str(result.model_version)}
    if request_id is not None:
        document["id"] = request_id
    content, json_length = encode_response(document, [(o, output_tensor(result, o.name)) for o in outputs])
    if json_length is None:
        return Answer(content)
    return Answer(content, 200, BINARY, ((HEADER_LENGTH.encode(), str(json_length).encode()),))


def _check_content_type(call: HttpCall) -> None:
    """A compressed body never gets here: the front door refuses any Content-Encoding but identity."""
    media_type = call.media_type()
    if media_type not in JSON_TYPES + BINARY_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"content type {media_type!r} is not supported; send application/json, or application/octet-stream "
            "with Inference-Header-Content-Length for binary tensors"
        )


def _model_metadata(request: Request, name: str, version: int | None) -> dict[str, Any]:
    return documents.model_metadata(data_plane(request).lookup(name, version))  # 503 when it is not served


def _model_ready(request: Request, name: str, version: int | None) -> Response:
    plane = data_plane(request)
    if plane.model_ready(name, version):
        return json_response({"name": name, "ready": True})
    return json_response({"name": name, "ready": False, "error": _not_ready_reason(plane.describe(name), version)}, 400)


def _not_ready_reason(model: ModelDescription, version: int | None) -> str:
    if model.state == "draining":
        return "the server is shutting down"
    if model.state == "ready":  # another version serves
        return f"model {model.name!r} serves version {model.version}, not {version}"
    return f"model {model.name!r} is not loaded: {model.reason or 'still loading'}"


def _status(content: dict[str, Any], key: str = "live") -> Response:
    # Kubernetes probes read the status code, not the body.
    return json_response(content, 200 if content[key] else 503)

"""Triton's model configuration and statistics extensions over REST: GET /v2/models/{name}[/versions/{v}]/config,
GET /v2/models/{name}[/versions/{v}]/stats and GET /v2/models/stats, shaped as Triton answers them (so
`tritonclient.http`'s `get_model_config` and `get_inference_statistics` work). The documents are v2_documents'.

The router must be included ahead of v2.py's: `/v2/models/stats` would otherwise match `/v2/models/{name}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..examples import V2_MODEL_CONFIG_EXAMPLE, V2_MODEL_STATS_EXAMPLE, ModelName, ModelVersionText, ok_example
from ..http_adapter import data_plane, error_responses, json_response, parse_version
from . import documents

router = APIRouter(prefix="/v2/models", tags=["v2 (Open Inference Protocol)"])

CONFIG_RESPONSES = {**ok_example(V2_MODEL_CONFIG_EXAMPLE), **error_responses(400, 404, 503)}
STATS_RESPONSES = {**ok_example(V2_MODEL_STATS_EXAMPLE), **error_responses(400, 404, 503)}


@router.get("/stats", responses={**ok_example(V2_MODEL_STATS_EXAMPLE)})
async def all_statistics(request: Request) -> Response:
    """Inference statistics of every served model (this worker process's counters)."""
    return _statistics(request, None, None)


@router.get("/{name}/config", responses=CONFIG_RESPONSES)
async def model_config(name: ModelName, request: Request) -> Response:
    """Triton's model configuration: inputs, outputs, max batch size and dynamic batching of the served version."""
    return _config(request, name, None)


@router.get("/{name}/versions/{version}/config", responses=CONFIG_RESPONSES)
async def model_version_config(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """Like /v2/models/{name}/config, refused unless `version` is the one served."""
    return _config(request, name, parse_version(version))


@router.get("/{name}/stats", responses=STATS_RESPONSES)
async def model_statistics(name: ModelName, request: Request) -> Response:
    """Success, failure, queue, compute and batch counts and durations (ns) of the served version."""
    return _statistics(request, name, None)


@router.get("/{name}/versions/{version}/stats", responses=STATS_RESPONSES)
async def model_version_statistics(name: ModelName, version: ModelVersionText, request: Request) -> Response:
    """Like /v2/models/{name}/stats, refused unless `version` is the one served."""
    return _statistics(request, name, parse_version(version))


def _config(request: Request, name: str, version: int | None) -> Response:
    plane = data_plane(request)
    return json_response(documents.model_config(plane.lookup(name, version), plane.batching()))


def _statistics(request: Request, name: str | None, version: int | None) -> Response:
    counters = data_plane(request).version_statistics(name, version)
    return json_response({"model_stats": [documents.model_statistics(c) for c in counters]})

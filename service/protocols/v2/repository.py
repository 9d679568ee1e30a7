"""Triton's model repository extension: POST /v2/repository/index, .../models/{name}/load and .../unload.

Shapes follow Triton's `extension_model_repository.md`: the index is a list of {name, version, state, reason}
(version a string, state READY or UNAVAILABLE); load and unload take an optional {"parameters": {...}} body and
answer 200 with an empty object, errors {"error": "..."}. Load and unload are explicit: an unloaded model stays
unloaded (the watcher leaves it alone) until it is loaded again. The work is the registry's; this only translates.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ...core.dataplane import IndexEntry
from ...core.errors import InvalidInput
from ...core.types import READY
from ..examples import V2_REPOSITORY_INDEX_DOC, V2_REPOSITORY_INDEX_EXAMPLE, ModelName, ok_example
from ..http_adapter import check_json_content_type, data_plane, error_responses, json_response, read_body
from ..json_body import parse_json_object

router = APIRouter(prefix="/v2/repository", tags=["v2 repository"])

_BODY_LIMIT = 64 * 1024  # these bodies hold a few flags
_UNLOAD_PARAMETERS = {"unload_dependents"}  # accepted for Triton clients; there are no dependent models here


@router.post(
    "/index",
    responses={**ok_example(V2_REPOSITORY_INDEX_EXAMPLE), **error_responses(400, 415)},
    openapi_extra=V2_REPOSITORY_INDEX_DOC,
)
async def repository_index(request: Request) -> Response:
    """Every model in the repository, loaded or not: [{name, version, state, reason}]."""
    body = await _read_optional_object(request)
    unknown = set(body) - {"ready"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {sorted(unknown)}; the index request takes 'ready'")
    ready_only = body.get("ready", False)
    if not isinstance(ready_only, bool):
        raise InvalidInput("'ready' must be true or false")
    entries = await data_plane(request).repository_index()
    return json_response([_index_entry(e) for e in entries if e.state == READY or not ready_only])


@router.post("/models/{name}/load", responses={**ok_example({}), **error_responses(400, 404, 415)})
async def load_model(name: ModelName, request: Request) -> Response:
    """Load the newest loadable version now (or reload it), retrying versions rejected before."""
    _check_parameters(await _read_optional_object(request), set())
    await data_plane(request).load(name)
    return json_response({})


# No prefilled model name here, unlike every other route: one click in the docs must not take a model down.
@router.post("/models/{name}/unload", responses={**ok_example({}), **error_responses(400, 404, 415)})
async def unload_model(name: str, request: Request) -> Response:
    """Stop serving the model; requests already running finish. The watcher will not reload it."""
    _check_parameters(await _read_optional_object(request), _UNLOAD_PARAMETERS)
    await data_plane(request).unload(name)
    return json_response({})


def _index_entry(entry: IndexEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "version": "" if entry.version is None else str(entry.version),
        "state": "READY" if entry.state == READY else "UNAVAILABLE",
        "reason": entry.reason,
    }


async def _read_optional_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, _BODY_LIMIT)
    if not body.strip():
        return {}
    check_json_content_type(request)
    return parse_json_object(body)


def _check_parameters(body: dict[str, Any], accepted: set[str]) -> None:
    unknown = set(body) - {"parameters"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {sorted(unknown)}; the body takes 'parameters'")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    unsupported = set(parameters) - accepted
    if unsupported:
        raise InvalidInput(f"unsupported parameter(s) {sorted(unsupported)}; accepted: {sorted(accepted) or 'none'}")

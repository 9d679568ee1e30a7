"""What every HTTP adapter shares: bounded body reading, content types, JSON answers, deadlines, the lean route."""

from __future__ import annotations

import math
import time
import typing
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ..contract.repository import is_decimal
from ..core.dataplane import DataPlane
from ..core.errors import InvalidInput, PayloadTooLarge, ServiceError, UnsupportedMediaType, as_sent
from ..core.types import InferenceRequest
from .errors import CLIENT_CLOSED, ERROR_SCHEMA, error_body, http_headers, http_status
from .json_body import dump_json
from .model_version import parse_version

JSON_TYPES = ("application/json", "")
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
ARRIVAL = "sigmoid_serve.arrival"  # scope key: when the request arrived (monotonic), set by request_deadline.py


@dataclass(frozen=True)
class HttpAdapterConfig:
    """What the HTTP adapters read from the app (`app.state.adapters`), handed in where the app is assembled."""

    plane: DataPlane
    max_body_bytes: int


def data_plane(request: Request) -> DataPlane:
    return request.app.state.adapters.plane


def body_limit(request: Request) -> int:
    return request.app.state.adapters.max_body_bytes


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes: a client cannot make us buffer more."""
    declared = request.headers.get("content-length", "")
    if is_decimal(declared) and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes (MAX_BODY_BYTES)")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes (MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"content type {media_type!r} is not supported; send application/json")


async def read_json_body(request: Request) -> bytes:
    check_json_content_type(request)
    return await read_body(request, body_limit(request))


def inference_request(request: Request, **fields: Any) -> InferenceRequest:
    """An InferenceRequest that counts its deadline from the request's arrival, with the client's timeout header."""
    header = request.headers.get(TIMEOUT_HEADER)
    timeout_ms = None
    if header is not None:
        try:
            timeout_ms = float(header)
        except ValueError:
            timeout_ms = math.nan
        if not math.isfinite(timeout_ms) or timeout_ms <= 0:
            raise InvalidInput(
                f"header {TIMEOUT_HEADER} must be a positive number of milliseconds, got {as_sent(header)}"
            )
    arrived_at = request.scope.get(ARRIVAL) or time.monotonic()
    return InferenceRequest(arrived_at=arrived_at, timeout_ms=timeout_ms, **fields)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dump_json(content), status_code=status_code, headers=headers, media_type="application/json")


def error_json(message: str, status_code: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(message), status_code=status_code, headers=headers, media_type="application/json")


def error_response(error: ServiceError) -> Response:
    return error_json(str(error), http_status(error), http_headers(error))


def client_gone_response() -> Response:
    """The client hung up while sending its body: nobody reads this answer, and it is not a server fault."""
    return error_json("client disconnected before the body was complete", CLIENT_CLOSED)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses an endpoint can answer."""
    return {code: {"description": "Error", "content": {"application/json": {"schema": ERROR_SCHEMA}}} for code in codes}


class LeanRoute(APIRoute):
    """A route documented in OpenAPI like any other, but called without FastAPI's per-request parameter machinery.

    For the hot endpoints, which take `request` plus path parameters and read their own body: `str` parameters
    pass as they are, `int` ones are model versions and go through `parse_version` (a bad one is a 400).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        hints = typing.get_type_hints(endpoint)
        converters = {name: parse_version if hints[name] is int else str for name in hints}
        converters.pop("request", None)
        converters.pop("return", None)

        async def handler(request: Request) -> Response:
            path = request.path_params
            arguments = {name: convert(path[name]) for name, convert in converters.items()}
            return await endpoint(request=request, **arguments)

        return handler

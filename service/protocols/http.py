"""What every protocol adapter shares: bounded body reading, JSON in and out, core errors to HTTP."""

from __future__ import annotations

import gc
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from ..core.errors import InvalidInput, Overloaded, PayloadTooLarge, ServiceError, UnsupportedMediaType
from ..core.repository_files import is_decimal
from ..middleware import CLIENT_CLOSED
from ..state import ServiceState

JSON_TYPES = ("application/json", "")


def service_state(request: Request) -> ServiceState:
    return request.app.state.service


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


async def read_json_object(request: Request) -> dict[str, Any]:
    check_json_content_type(request)
    body = await read_body(request, service_state(request).settings.max_body_bytes)
    return parse_json_object(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidInput("empty body: send a JSON object")
    # A tensor in JSON becomes thousands of nested lists; letting the cyclic GC scan them again and again while
    # orjson builds them cost 3x the parse itself (64x64x3 image, 64 requests in flight). JSON holds no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(document, dict):
        raise InvalidInput(f"body must be a JSON object, got {type(document).__name__}")
    return document


INT64_DIGITS = 19  # 2**63 - 1 has 19 digits: a longer number is never a version, and int() of it can raise


def parse_version(text: str) -> int:
    """A model version from a URL segment (v2 and TF Serving paths carry it as text): a positive int64."""
    shown = text if len(text) <= 30 else f"{text[:20]}... ({len(text)} characters)"
    digits = text.lstrip("0")
    if not is_decimal(text) or not digits:
        raise InvalidInput(f"model version must be a positive integer, got {shown!r}")
    if len(digits) > INT64_DIGITS or int(digits) >= 2**63:  # bounded before int(): Python refuses 4,300+ digits
        raise InvalidInput(f"model version must be below 2**63 (int64), got {shown!r}")
    return int(digits)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def client_gone_response() -> Response:
    """The client hung up while sending its body: nobody reads this answer, and it is not a server fault."""
    return json_response({"error": "client disconnected before the body was complete"}, CLIENT_CLOSED)


def error_response(exc: ServiceError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, Overloaded) else None
    return json_response({"error": str(exc)}, exc.status_code, headers)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What was wrong, for a person to read."}},
    "required": ["error"],
}


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

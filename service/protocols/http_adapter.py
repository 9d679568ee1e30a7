"""What every HTTP adapter shares: the call (headers, bounded body, deadline), answers, content types, the lean route.

The inference POSTs are lean routes: documented in OpenAPI like any other route, but served by the front door
(`service/http/front_door.py`), which hands their handler an `HttpCall` and sends the `Answer` it returns: no
Starlette Request, Headers or Response objects on the hot path. The other routes are ordinary FastAPI routes.
"""

from __future__ import annotations

import inspect
import math
import time
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from ..core.dataplane import DataPlane
from ..core.errors import InvalidInput, PayloadTooLarge, ServiceError, UnsupportedMediaType, as_sent
from ..core.types import InferenceRequest
from .errors import CLIENT_CLOSED, ERROR_SCHEMA, error_body, http_headers, http_status
from .json_body import dump_json
from .model_version import parse_version

JSON_TYPES = ("application/json", "")
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
ARRIVAL = "sigmoid_serve.arrival"  # scope key: when the request arrived (monotonic), set by the front door
JSON = b"application/json"


@dataclass(frozen=True)
class HttpAdapterConfig:
    """What the HTTP adapters read from the app (`app.state.adapters`), handed in where the app is assembled."""

    plane: DataPlane
    max_body_bytes: int


def first_values(raw_headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header name (lower case, as ASGI gives it) -> its first value, as Starlette's `Headers.get` reads it."""
    return dict(reversed(raw_headers))


class HttpCall:
    """One HTTP request as an adapter reads it: its headers, its bounded body, and when it arrived."""

    __slots__ = ("scope", "receive", "headers", "plane", "max_body_bytes", "arrived_at")

    def __init__(  # noqa: PLR0913
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[bytes, bytes],
        plane: DataPlane,
        max_body_bytes: int,
        arrived_at: float,
    ) -> None:
        self.scope, self.receive, self.headers = scope, receive, headers
        self.plane, self.max_body_bytes, self.arrived_at = plane, max_body_bytes, arrived_at

    @classmethod
    def of(cls, request: Request) -> HttpCall:
        """A call from a Starlette request: for the routes the router serves."""
        config: HttpAdapterConfig = request.app.state.adapters
        scope = request.scope
        arrived_at = scope.get(ARRIVAL) or time.monotonic()
        headers = first_values(scope["headers"])
        return cls(scope, request.receive, headers, config.plane, config.max_body_bytes, arrived_at)

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    async def body(self, limit: int | None = None) -> bytes:
        """The body, refused as soon as it passes `limit` bytes (MAX_BODY_BYTES by default): a client cannot make us
        buffer more. ClientDisconnect when the client hangs up before it is complete."""
        limit = self.max_body_bytes if limit is None else limit
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            size = declared.decode()
            raise PayloadTooLarge(f"body of {size} bytes is over the limit of {limit} bytes (MAX_BODY_BYTES)")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body is over the limit of {limit} bytes (MAX_BODY_BYTES)")
            if not message.get("more_body", False):
                return b"".join([*chunks, chunk]) if chunks else chunk
            chunks.append(chunk)

    def media_type(self) -> str:
        return (self.header(b"content-type") or "").split(";")[0].strip().lower()

    async def json_body(self) -> bytes:
        media_type = self.media_type()
        if media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise UnsupportedMediaType(f"content type {media_type!r} is not supported; send application/json")
        return await self.body()

    def inference_request(self, **fields: Any) -> InferenceRequest:
        """An InferenceRequest that counts its deadline from the request's arrival, with the client's timeout
        header."""
        header = self.headers.get(b"x-request-timeout-ms")
        timeout_ms = None
        if header is not None:
            try:
                timeout_ms = float(header)
            except ValueError:
                timeout_ms = math.nan
            if not math.isfinite(timeout_ms) or timeout_ms <= 0:
                got = as_sent(header.decode("latin-1"))
                raise InvalidInput(f"header {TIMEOUT_HEADER} must be a positive number of milliseconds, got {got}")
        return InferenceRequest(arrived_at=self.arrived_at, timeout_ms=timeout_ms, **fields)


class Answer(NamedTuple):
    """What a lean route answers: the front door writes it in two ASGI messages, with the request id."""

    body: bytes
    status: int = 200
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


def json_answer(content: Any, status: int = 200) -> Answer:
    return Answer(dump_json(content), status)


def error_answer(error: ServiceError) -> Answer:
    extra = http_headers(error) or {}
    headers = tuple((name.lower().encode(), value.encode()) for name, value in extra.items())
    return Answer(error_body(str(error)), http_status(error), JSON, headers)


def client_gone_answer() -> Answer:
    """The client hung up while sending its body: nobody reads this answer, and it is not a server fault."""
    return Answer(error_body("client disconnected before the body was complete"), CLIENT_CLOSED)


def as_response(answer: Answer) -> Response:
    headers = {name.decode(): value.decode() for name, value in answer.headers}
    return Response(answer.body, answer.status, headers, media_type=answer.content_type.decode())


# -- the routes the router serves ------------------------------------------------------------------------------


def data_plane(request: Request) -> DataPlane:
    return request.app.state.adapters.plane


async def read_body(request: Request, limit: int) -> bytes:
    return await HttpCall.of(request).body(limit)


def check_json_content_type(request: Request) -> None:
    media_type = HttpCall.of(request).media_type()
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"content type {media_type!r} is not supported; send application/json")


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dump_json(content), status_code=status_code, headers=headers, media_type="application/json")


def error_json(message: str, status_code: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(message), status_code=status_code, headers=headers, media_type="application/json")


def error_response(error: ServiceError) -> Response:
    return as_response(error_answer(error))


def client_gone_response() -> Response:
    return as_response(client_gone_answer())


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses an endpoint can answer."""
    return {code: {"description": "Error", "content": {"application/json": {"schema": ERROR_SCHEMA}}} for code in codes}


# -- lean routes ------------------------------------------------------------------------------------------------

LeanHandler = Callable[..., Awaitable[Answer]]


def lean_post(router: Any, path: str, **documentation: Any) -> Callable[[LeanHandler], LeanHandler]:
    """Registers `handler(call, **path_parameters) -> Answer` as POST `path` on a router of `LeanRoute`s.

    FastAPI documents it from the handler's parameters (after `call`), name and docstring; the front door calls the
    handler itself. `str` parameters pass as they are, `int` ones are model versions (`parse_version`: a bad one is
    a 400)."""

    def register(handler: LeanHandler) -> LeanHandler:
        hints = typing.get_type_hints(handler, include_extras=True)
        parameters = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[name])
            for name in list(inspect.signature(handler).parameters)[1:]
        ]
        parameters.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request))

        async def endpoint(request: Request, **arguments: Any) -> Response:
            return as_response(await handler(HttpCall.of(request), **arguments))

        endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
        endpoint.__name__, endpoint.__doc__, endpoint.__qualname__ = handler.__name__, handler.__doc__, handler.__name__
        endpoint.lean = handler  # type: ignore[attr-defined]  # what LeanRoute serves
        router.add_api_route(path, endpoint, methods=["POST"], **documentation)
        return handler

    return register


class LeanRoute(APIRoute):
    """A route documented in OpenAPI like any other, whose handler takes an `HttpCall` and answers an `Answer`.

    The front door calls `handler` with `arguments(path_parameters)`; when the router serves it instead (a test's
    app without the front door), the documented endpoint wraps the same handler.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.handler: LeanHandler = endpoint.lean  # type: ignore[attr-defined]  # set before APIRoute asks for it
        hints = typing.get_type_hints(self.handler)
        self.converters = {
            name: parse_version if hints[name] is int else str
            for name in list(inspect.signature(self.handler).parameters)[1:]
        }
        super().__init__(path, endpoint, **kwargs)

    def arguments(self, path_parameters: dict[str, str]) -> dict[str, Any]:
        return {name: convert(path_parameters[name]) for name, convert in self.converters.items()}

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = self.handler

        async def route_handler(request: Request) -> Response:
            return as_response(await handler(HttpCall.of(request), **self.arguments(request.path_params)))

        return route_handler

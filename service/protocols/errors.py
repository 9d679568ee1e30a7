"""Core errors to each protocol's status, once, and the one JSON error body every HTTP answer carries.

The app's handlers, the fast lane, the middlewares and the HTTP protocol (which writes raw responses for requests
the app never sees) all answer errors as `error_body(message)`: `{"error": "what was wrong, for a person"}`.
"""

from __future__ import annotations

from typing import Any

import orjson
from grpc import StatusCode

from ..core.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelLoadFailed,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    PayloadTooLarge,
    RepositoryControlFailed,
    ServiceError,
    UnsupportedMediaType,
)

# No answer was sent because the client hung up first (nginx's "client closed request"): not a server error.
CLIENT_CLOSED = 499

# The body's schema, for the OpenAPI document.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What was wrong, for a person to read."}},
    "required": ["error"],
}


def error_body(message: str) -> bytes:
    """The JSON body of every HTTP error answer."""
    return orjson.dumps({"error": message})


def error_message(body: bytes) -> str:
    """The message of an `error_body` ("" when the body is not one): what the access log records of a failure."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    message = document.get("error") if isinstance(document, dict) else None
    return message if isinstance(message, str) else ""


HTTP_STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    ModelLoadFailed: 400,  # as Triton answers a load that fails
    ModelNotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ModelNotReady: 503,
    Overloaded: 503,
    RepositoryControlFailed: 503,
    DeadlineExceeded: 504,
}

# gRPC's codes for the same errors: a client's mistake is never UNKNOWN or INTERNAL. A message over MAX_BODY_BYTES
# never reaches this mapping: the server's receive limit refuses it with RESOURCE_EXHAUSTED.
GRPC_STATUS: dict[type[ServiceError], StatusCode] = {
    InvalidInput: StatusCode.INVALID_ARGUMENT,
    ModelLoadFailed: StatusCode.INVALID_ARGUMENT,  # as Triton answers a load that fails
    ModelNotFound: StatusCode.NOT_FOUND,
    PayloadTooLarge: StatusCode.RESOURCE_EXHAUSTED,
    UnsupportedMediaType: StatusCode.INVALID_ARGUMENT,
    ModelNotReady: StatusCode.UNAVAILABLE,
    Overloaded: StatusCode.UNAVAILABLE,
    RepositoryControlFailed: StatusCode.UNAVAILABLE,
    DeadlineExceeded: StatusCode.DEADLINE_EXCEEDED,
}


def http_status(error: ServiceError) -> int:
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 500


def http_headers(error: ServiceError) -> dict[str, str] | None:
    if isinstance(error, Overloaded):
        return {"Retry-After": str(error.retry_after_seconds)}
    return None


def grpc_status(error: ServiceError) -> StatusCode:
    for kind in type(error).__mro__:
        if kind in GRPC_STATUS:
            return GRPC_STATUS[kind]
    return StatusCode.INTERNAL

"""Core errors to each protocol's status, once. The app's handlers and the fast lane both answer through here."""

from __future__ import annotations

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


def http_status(error: ServiceError) -> int:
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return 500


def http_headers(error: ServiceError) -> dict[str, str] | None:
    if isinstance(error, Overloaded):
        return {"Retry-After": str(error.retry_after_seconds)}
    return None

"""Typed errors of the core. Each protocol maps them to its own statuses once (`service/protocols/errors.py`).

The message is meant for the caller and names the problem; the core says nothing of HTTP or gRPC codes.
"""

import json


def as_sent(value: object, limit: int = 60) -> str:
    """A value from a request, written back as the caller wrote it (JSON: true, null, {"a": 1}), not as Python
    prints it (True, None, {'a': 1}); long values are cut."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ServiceError(Exception):
    """Base class of every error a caller may see."""


class InvalidInput(ServiceError):
    """The caller sent something the model cannot take (shape, type, NaN, threshold, body)."""


class ModelNotFound(ServiceError):
    """No such model, or not the version asked for."""


class ModelNotReady(ServiceError):
    """The model exists but is not served (still loading, failed to load, unloaded, or the server is stopping)."""


class Overloaded(ServiceError):
    """The model's queue is full: the caller should retry later."""

    retry_after_seconds = 1


class PayloadTooLarge(ServiceError):
    """The request is larger than the server accepts."""


class UnsupportedMediaType(ServiceError):
    """The request's encoding is not one the server reads."""


class ModelLoadFailed(ServiceError):
    """An explicit load found the model but its newest version does not load (Triton answers such a load with 400)."""


class DeadlineExceeded(ServiceError):
    """The result was not ready within the request's deadline; its queued rows are dropped, not run."""


class RepositoryControlFailed(ServiceError):
    """A load or unload could not be shared with, or was not followed in time by, every worker."""

"""Typed errors of the core. Each protocol adapter maps them to its own status codes and bodies, once."""


class ServiceError(Exception):
    """Base class: the message is meant for the caller and names the problem."""

    status_code = 500


class InvalidInput(ServiceError):
    """The caller sent something the model cannot take (shape, dtype, NaN, threshold, body)."""

    status_code = 400


class ModelNotFound(ServiceError):
    status_code = 404


class ModelNotReady(ServiceError):
    """The model exists but is not loaded (still loading, or failed to load)."""

    status_code = 503


class Overloaded(ServiceError):
    """The model's queue is full: the caller should retry later."""

    status_code = 503
    retry_after_seconds = 1


class PayloadTooLarge(ServiceError):
    status_code = 413


class UnsupportedMediaType(ServiceError):
    status_code = 415


class ModelLoadFailed(ServiceError):
    """An explicit load found the model but no version of it loads (Triton answers such a load with 400)."""

    status_code = 400


class DeadlineExceeded(ServiceError):
    """The result was not ready within the request's deadline; its queued rows are dropped, not run."""

    status_code = 504

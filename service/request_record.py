"""The record of the request being served: its id, and the model, version and rows once the core knows them.

Set by the request middleware, filled by the inference core (`note_inference`), read by the log formatter
and, when the request ends, by the access log and the request metrics. Kept apart from the metrics so that
logging (which `python -m service` configures before any app code loads) imports nothing heavy.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestRecord:
    """Filled while a request runs; read by the request middleware when it ends."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    model: str = ""  # only names the registry resolved: never an unknown name from a URL (label cardinality)
    version: int | None = None
    rows: int | None = None
    error: str = ""


current_request: ContextVar[RequestRecord | None] = ContextVar("current_request", default=None)


def note_inference(model: str, version: int, rows: int | None = None) -> None:
    """Called by the inference core once a request has a resolved model and validated rows."""
    record = current_request.get()
    if record is not None:
        record.model, record.version, record.rows = model, version, rows


def current_request_id() -> str | None:
    record = current_request.get()
    return record.request_id if record else None

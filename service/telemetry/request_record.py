"""The record of the request being served: its id, and the model, version and rows once the core knows them.

Set by the request middleware, filled by the inference core (`note_inference`), read by the log formatter
and, when the request ends, by the access log and the request metrics. Kept apart from the metrics so that
logging (which `python -m service` configures before any app code loads) imports nothing heavy.
"""

from __future__ import annotations

import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
REQUEST_ID_MAX = 64


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID reduced to safe characters and bounded length, or a new one."""
    for key, value in headers:
        if key == REQUEST_ID_HEADER:
            given = REQUEST_ID_UNSAFE.sub("", value.decode("latin-1"))[:REQUEST_ID_MAX]
            if given:
                return given
    return os.urandom(16).hex()  # as random as uuid4, at a fraction of its cost


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

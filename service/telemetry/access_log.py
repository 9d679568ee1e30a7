"""The access log: one line per request that failed (always) or succeeded (ACCESS_LOG), for HTTP and gRPC alike.

Fields: request_id, method, path, protocol, model, version, rows, status, latency_ms, and for a failure the error
message the service itself wrote (never a request body, never a header). Logged under `service.access`.
"""

from __future__ import annotations

import logging

from .request_record import RequestRecord

log = logging.getLogger("service.access")

CAUSE_MAX = 300  # characters of the error message in the line


def log_request(
    record: RequestRecord,
    method: str,
    path: str,
    protocol: str,
    status: int | str,
    seconds: float,
    *,
    failed: bool,
    error: str = "",
) -> None:
    """The request's line: a warning when it failed, else info (callers skip successes without ACCESS_LOG)."""
    fields = {
        "request_id": record.request_id,
        "method": method,
        "path": path,
        "protocol": protocol,
        "model": record.model or None,
        "version": record.version,
        "rows": record.rows,
        "status": status,
        "latency_ms": round(seconds * 1000, 3),
    }
    if failed:
        fields["error"] = (record.error or error)[:CAUSE_MAX]
        log.warning("request failed", extra={"fields": fields})
    else:
        log.info("request", extra={"fields": fields})

"""Logging for the service and uvicorn: one JSON object a line (LOG_FORMAT=json, the default) or text.

Every line carries the request id of the request it was logged in (if any). Structured fields go in
`extra={"fields": {...}}`. Nothing here ever logs a request body or an Authorization header: the access
line is built from the method, path, status and the error message the service itself wrote.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from .request_record import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            # Strings quoted and escaped: a path or message with a newline cannot forge a log line.
            text += " " + " ".join(
                f"{k}={orjson.dumps(v).decode() if isinstance(v, str) else v}"
                for k, v in fields.items()
                if v is not None and k != "request_id"
            )
        request_id = getattr(record, "request_id", None)
        return f"{text} [{request_id}]" if request_id else text


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """A logging.dictConfig for uvicorn's `log_config`: applied in every worker process."""
    formatter = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"()": TextFormatter, "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": {**handler, "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # uvicorn's own handlers are replaced by the root's: its lines get the same format.
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            # The access line comes from service.http.front_door (with request id, model, rows); uvicorn's is off.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }

"""The two log formats, on log records made here (the server-side JSON lines are tested in test_observability)."""

from __future__ import annotations

import json
import logging

from service.telemetry.logging_config import JsonFormatter, RequestIdFilter, TextFormatter, log_config
from service.telemetry.request_record import RequestRecord, current_request


def record(**fields: object) -> logging.LogRecord:
    made = logging.LogRecord("service.access", logging.WARNING, __file__, 1, "request %s", ("failed",), None)
    made.fields = fields
    return made


def test_json_line_merges_fields_and_request_id() -> None:
    token = current_request.set(RequestRecord("rid-1"))
    try:
        made = record(status=400, error="bad")
        RequestIdFilter().filter(made)  # what the handler runs: it picks up the current request's id
    finally:
        current_request.reset(token)
    line = json.loads(JsonFormatter().format(made))
    assert line["request_id"] == "rid-1" and line["message"] == "request failed"
    assert line["level"] == "warning" and line["status"] == 400 and line["error"] == "bad"


def test_text_line_for_humans() -> None:
    made = record(status=404, model=None, path="/models/x\nFAKE LINE")
    made.request_id = "rid-2"
    text = TextFormatter("%(levelname)s %(name)s: %(message)s").format(made)
    assert text == 'WARNING service.access: request failed status=404 path="/models/x\\nFAKE LINE" [rid-2]'


def test_config_routes_uvicorn_through_the_same_handler() -> None:
    config = log_config("text", "info")
    assert config["formatters"]["default"]["()"] is TextFormatter
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
    assert log_config("json", "debug")["root"]["level"] == "DEBUG"

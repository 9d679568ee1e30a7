"""Prometheus metrics, request ids and structured logs of a real server (the `guarded` one: keys on,
ACCESS_LOG on, a broken version 3 of `linear`)."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.guarded import KEY_IN_ENV, KEYS_IN_FILE
from tests.support.scrape import scrape, value
from tests.support.server import RunningServer

ROW = [0.1, 0.2, 0.3, 0.4]


def log_lines(server: RunningServer) -> list[dict]:
    time.sleep(0.1)  # the server writes its line after the response
    return [json.loads(line) for line in server.lines if line.startswith("{")]  # as written: split at "\n" only


def test_metrics_move_after_requests(guarded: RunningServer, key_header: dict[str, str]) -> None:
    before = scrape(guarded)
    with httpx.Client(base_url=guarded.url, headers=key_header) as client:
        for rows in (1, 3, 5):
            assert client.post("/models/linear/predict", json={"instances": [ROW] * rows}).status_code == 200
        assert client.post("/models/linear/predict", json={"instances": [[1, 2]]}).status_code == 400
        assert client.post("/models/nope/predict", json={"instances": [ROW]}).status_code == 404
    after = scrape(guarded)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "sigmoid_serve_requests_total"
    assert moved(requests, model="linear", protocol="native", status="200") == 3
    assert moved(requests, model="linear", protocol="native", status="400") == 1
    assert moved(requests, model="", protocol="native", status="404") == 1  # an unknown name is no label value
    assert moved("sigmoid_serve_request_duration_seconds_count", model="linear", protocol="native") == 4
    assert moved("sigmoid_serve_batch_rows_sum", model="linear") == 9
    assert moved("sigmoid_serve_batch_rows_count", model="linear") == 3
    assert moved("sigmoid_serve_queue_wait_seconds_count", model="linear") == 3
    assert moved("sigmoid_serve_inference_duration_seconds_count", model="linear") == 3
    assert value(after, "sigmoid_serve_queue_rows", model="linear") == 0
    assert value(after, "sigmoid_serve_model_loaded", model="linear", version="2") == 1
    assert value(after, "sigmoid_serve_model_loads_total", model="linear", outcome="failure") == 1  # version 3
    assert value(after, "sigmoid_serve_model_loads_total", model="linear", outcome="success") == 1
    assert not any(name.endswith("_created") for name, _ in after)


def test_request_id_round_trips(guarded: RunningServer, key_header: dict[str, str]) -> None:
    with httpx.Client(base_url=guarded.url, headers=key_header) as client:
        given = client.get("/models/linear", headers={"x-request-id": "trace-42.a:b_c"})
        assert given.headers["x-request-id"] == "trace-42.a:b_c"
        unsafe = client.get("/models/linear", headers={"x-request-id": 'a b"<script>\\x' + "z" * 200})
        assert unsafe.headers["x-request-id"] == "abscriptx" + "z" * 55  # safe characters, 64 at most
        generated = {client.get("/health/live").headers["x-request-id"] for _ in range(3)}
        assert len(generated) == 3 and all(len(i) == 32 for i in generated)
        refused = httpx.get(f"{guarded.url}/models", headers={"x-request-id": "no-key-1"})
        assert refused.status_code == 401 and refused.headers["x-request-id"] == "no-key-1"


def test_error_logs_one_json_line_with_the_cause_not_the_payload(
    guarded: RunningServer, key_header: dict[str, str]
) -> None:
    marker = "PAYLOAD-MARKER-7f3a"
    response = httpx.post(
        f"{guarded.url}/models/linear/predict",
        json={"instances": [[marker, 1, 2, 3]]},
        headers={**key_header, "x-request-id": "err-line-1"},
    )
    assert response.status_code == 400
    lines = [line for line in log_lines(guarded) if line.get("request_id") == "err-line-1"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["level"] == "warning" and line["logger"] == "service.access"
    assert line["status"] == 400 and line["method"] == "POST" and line["path"] == "/models/linear/predict"
    assert line["model"] == "linear" and line["version"] == 2
    assert "must hold numbers" in line["error"]
    assert marker not in guarded.output


def test_access_line_has_model_version_rows_and_latency(guarded: RunningServer, key_header: dict[str, str]) -> None:
    headers = {**key_header, "x-request-id": "ok-line-1"}
    assert httpx.post(f"{guarded.url}/predict", json={"instances": [ROW] * 2}, headers=headers).status_code == 200
    (line,) = [line for line in log_lines(guarded) if line.get("request_id") == "ok-line-1"]
    assert line["level"] == "info" and line["status"] == 200 and line["protocol"] == "native"
    assert (line["model"], line["version"], line["rows"]) == ("linear", 2, 2)
    assert line["latency_ms"] > 0


def test_every_line_is_json_and_no_key_is_ever_logged(guarded: RunningServer) -> None:
    for key in (KEY_IN_ENV, KEYS_IN_FILE[0], "guessed-wrong-key-55"):
        httpx.get(f"{guarded.url}/models", headers={"authorization": f"Bearer {key}"})
    time.sleep(0.1)
    lines = [line.rstrip("\n") for line in guarded.lines if line.strip()]  # lines as written: split at "\n" only
    assert lines and all(line.startswith("{") for line in lines), [x for x in lines if not x.startswith("{")][:3]
    assert any(json.loads(line)["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines too
    for secret in (KEY_IN_ENV, *KEYS_IN_FILE, "guessed-wrong-key-55"):
        assert secret not in guarded.output

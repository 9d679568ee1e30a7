"""The front door (service/http/front_door.py): what every request meets on its way in and out, and the lean routes'
dispatch. It runs here on routes made for the test and an inner app that answers 418, so each branch is seen on its
own; every real endpoint behind it is tested through a real server elsewhere (tests/integration)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from fastapi import APIRouter, Response
from starlette.requests import ClientDisconnect

from service.app import create_app
from service.core.errors import InvalidInput
from service.http.front_door import INTERNAL_ERROR, FrontDoor
from service.http.request_deadline import CANCELS_ON_DISCONNECT
from service.protocols.http_adapter import Answer, HttpAdapterConfig, HttpCall, LeanRoute, json_answer, lean_post
from service.settings import Settings
from tests.support.onnx_models import linear_model

router = APIRouter(prefix="/t", route_class=LeanRoute)
KEY = "k-0123456789"


@lean_post(router, "/models/{name}/versions/{version}/echo")
async def echo(call: HttpCall, name: str, version: int) -> Answer:
    return json_answer({"name": name, "version": version, "body": (await call.body()).decode()})


@lean_post(router, "/refuse")
async def refuse(call: HttpCall) -> Answer:
    raise InvalidInput("no, and here is why")


@lean_post(router, "/hang-up")
async def hang_up(call: HttpCall) -> Answer:
    raise ClientDisconnect()


@lean_post(router, "/break")
async def broken(call: HttpCall) -> Answer:
    raise RuntimeError("a bug")


def call(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, **door: object) -> tuple:
    """(status, headers, body parsed when JSON) of one request through the door; the inner app answers 418 with the
    path and method it got."""

    async def inner(scope: dict, receive: object, send: object) -> None:
        got = {"passed_on": scope["path"], "method": scope["method"]}
        await Response(orjson.dumps(got), 418, media_type="application/json")(scope, receive, send)

    marked = door.pop("marked", True)  # as the service's HTTP protocol marks requests, or not (another server)
    adapters = HttpAdapterConfig(None, 1000)  # type: ignore[arg-type]  # the test's routes ask no data plane
    front = FrontDoor(inner, adapters, router.routes, **door)  # type: ignore[arg-type]
    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": raw, "root_path": "", "app": None, CANCELS_ON_DISCONNECT: marked}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        if not sent:
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client stays
        return {}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    answer_headers = dict(sent[0]["headers"])
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], answer_headers, orjson.loads(body) if b"json" in answer_headers[b"content-type"] else body


def test_a_lean_route_gets_its_converted_path_parameters_and_body() -> None:
    status, headers, document = call("POST", "/t/models/digits/versions/3/echo", b"hi")
    assert (status, document) == (200, {"name": "digits", "version": 3, "body": "hi"})
    assert headers[b"content-type"] == b"application/json" and headers[b"content-length"] == b"41"
    assert len(headers[b"x-request-id"]) == 32


def test_the_callers_request_id_comes_back_made_safe() -> None:
    _, headers, _ = call("POST", "/t/refuse", headers={"X-Request-ID": "abc-1<script>"})
    assert headers[b"x-request-id"] == b"abc-1script"


def test_errors_answer_as_the_app_answers_them() -> None:
    assert call("POST", "/t/refuse")[::2] == (400, {"error": "no, and here is why"})
    assert call("POST", "/t/models/digits/versions/x/echo")[::2] == (
        400,
        {"error": 'model version must be a positive integer, got "x"'},
    )
    assert call("POST", "/t/hang-up")[::2] == (499, {"error": "client disconnected before the body was complete"})
    assert call("POST", "/t/break")[::2] == (500, {"error": INTERNAL_ERROR})


@pytest.mark.parametrize("marked", [True, False], ids=["our protocol", "any other server"])
def test_everything_else_is_passed_on(marked: bool) -> None:
    assert call("GET", "/t/refuse", marked=marked)[::2] == (418, {"passed_on": "/t/refuse", "method": "GET"})
    assert call("POST", "/t/elsewhere", marked=marked)[::2] == (418, {"passed_on": "/t/elsewhere", "method": "POST"})


def test_a_trailing_slash_names_the_same_resource_and_head_is_a_get() -> None:
    assert call("POST", "/t/models/digits/versions/3/echo/", b"x")[0] == 200
    assert call("HEAD", "/t/refuse/")[::2] == (418, {"passed_on": "/t/refuse", "method": "GET"})


def test_a_compressed_body_is_refused() -> None:
    status, _, document = call("POST", "/t/models/a/versions/1/echo", headers={"Content-Encoding": "gzip"})
    assert (status, document) == (415, {"error": "Content-Encoding 'gzip' is not supported; send plain JSON"})


def test_api_keys_guard_every_path_but_the_open_ones() -> None:
    keys = {"api_keys": [KEY]}
    status, headers, document = call("POST", "/t/models/a/versions/1/echo", **keys)
    assert (status, headers[b"www-authenticate"]) == (401, b"Bearer")
    assert document == {"error": "missing API key: send the header 'Authorization: Bearer <key>'"}
    wrong = call("POST", "/t/models/a/versions/1/echo", headers={"Authorization": "Bearer nope"}, **keys)
    assert (wrong[0], wrong[1][b"www-authenticate"]) == (401, b'Bearer error="invalid_token"')
    assert call("POST", "/t/models/a/versions/1/echo", headers={"Authorization": f"Bearer {KEY}"}, **keys)[0] == 200
    assert call("GET", "/health/live", **keys)[0] == 418  # open: passed on without a key


def test_cors_answers_preflights_before_keys_are_checked() -> None:
    origin = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, headers, _ = call("OPTIONS", "/t/refuse", headers=origin, cors_origins=[origin["Origin"]], api_keys=[KEY])
    assert status == 200 and headers[b"access-control-allow-origin"] == b"https://app.example"


@pytest.fixture
def app(tmp_path: Path):
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    return create_app(Settings(model_repository=tmp_path))


def test_every_inference_route_of_the_app_is_a_lean_route_at_the_door(app) -> None:
    door = next(m for m in app.user_middleware if m.cls is FrontDoor)
    at_the_door = {route.path for route in door.kwargs["routes"]}
    paths = app.openapi()["paths"]
    inference_posts = {path for path, item in paths.items() if "post" in item and not path.startswith("/v2/repository")}
    assert at_the_door == inference_posts
    assert (
        "/v1/models/{name_and_verb}" in at_the_door and "/v1/models/{name}/versions/{version_and_verb}" in at_the_door
    )
    assert len(app.user_middleware) == 1  # the front door is the one middleware


def test_requests_start_at_the_front_door(app) -> None:
    assert isinstance(app._find_front(), FrontDoor)


def test_fastapi_keeps_its_way_when_a_telemetry_provider_is_configured(app, monkeypatch) -> None:
    monkeypatch.setattr(app._native_telemetry, "enabled", lambda: True)
    assert app._find_front() is None

"""The fast lane's contract: it answers the POSTs of its routes as the app would, and passes on everything else.

Every real endpoint behind it is tested through a real server elsewhere (tests/integration/service and hardening);
here the lane runs on routes made for the test, so each branch is seen on its own.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from service.core.errors import InvalidInput
from service.http.fast_lane import FastLaneMiddleware
from service.protocols.http_adapter import LeanRoute, json_response

router = APIRouter(prefix="/t", route_class=LeanRoute)


@router.post("/models/{name}/versions/{version}/echo")
async def echo(name: str, version: int, request: Request) -> Response:
    return json_response({"name": name, "version": version, "body": (await request.body()).decode()})


@router.post("/refuse")
async def refuse(request: Request) -> Response:
    raise InvalidInput("no, and here is why")


@router.post("/hang-up")
async def hang_up(request: Request) -> Response:
    raise ClientDisconnect()


@router.post("/break")
async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


@router.get("/only-get")
async def only_get(request: Request) -> Response:
    return json_response({})


def call(method: str, path: str, body: bytes = b"") -> tuple[int, object]:
    """Drive the lane like a server would; the inner app answers 418 with the path it was given."""

    async def inner(scope: dict, receive: object, send: object) -> None:
        await Response(orjson.dumps({"passed_on": scope["path"]}), 418)(scope, receive, send)

    lane = FastLaneMiddleware(inner, router.routes)
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "root_path": "", "app": None}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(lane(scope, receive, send))
    return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_route_of_the_lane_gets_its_converted_path_parameters_and_body() -> None:
    expected = {"name": "digits", "version": 3, "body": "hi"}
    assert call("POST", "/t/models/digits/versions/3/echo", b"hi") == (200, expected)


def test_errors_answer_as_the_app_answers_them() -> None:
    assert call("POST", "/t/refuse") == (400, {"error": "no, and here is why"})
    assert call("POST", "/t/models/digits/versions/x/echo") == (
        400,
        {"error": 'model version must be a positive integer, got "x"'},
    )
    assert call("POST", "/t/hang-up") == (499, {"error": "client disconnected before the body was complete"})
    with pytest.raises(RuntimeError, match="a bug"):  # on up to the app's 500 handler
        call("POST", "/t/break")


def test_everything_else_is_passed_on() -> None:
    assert call("GET", "/t/refuse") == (418, {"passed_on": "/t/refuse"})  # the router answers 405 for it
    assert call("POST", "/t/elsewhere") == (418, {"passed_on": "/t/elsewhere"})
    assert call("POST", "/t/only-get") == (418, {"passed_on": "/t/only-get"})  # a GET route is not in the lane


def test_every_inference_route_of_the_app_is_on_the_lane(tmp_path) -> None:
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(model_repository=tmp_path))
    lane = next(m for m in app.user_middleware if m.cls is FastLaneMiddleware)
    on_lane = {route.path for route in lane.kwargs["routes"]}
    paths = app.openapi()["paths"]
    inference_posts = {path for path, item in paths.items() if "post" in item and not path.startswith("/v2/repository")}
    assert on_lane == inference_posts
    assert "/v1/models/{name_and_verb}" in on_lane and "/v1/models/{name}/versions/{version_and_verb}" in on_lane

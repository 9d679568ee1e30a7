"""One error mapping for every path: core errors get their status wherever they are raised, and an unexpected
error is a JSON 500 that carries the request id, on the fast lane and on the router alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
import pytest

from service.app import create_app
from service.core import errors
from service.core.types import InferenceRequest
from service.protocols.errors import GRPC_STATUS, HTTP_STATUS, grpc_status, http_status
from service.settings import Settings
from tests.support.onnx_models import linear_model


def test_every_core_error_has_a_status_and_none_is_a_500() -> None:
    kinds = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.ServiceError)]
    assert set(kinds) - {errors.ServiceError} == set(HTTP_STATUS)
    assert all(400 <= http_status(kind("x")) < 600 and http_status(kind("x")) != 500 for kind in HTTP_STATUS)


def test_every_core_error_has_a_grpc_status_and_none_is_a_server_fault() -> None:
    kinds = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.ServiceError)]
    assert set(kinds) - {errors.ServiceError} == set(GRPC_STATUS)
    server_faults = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.OK}
    assert not {grpc_status(kind("x")) for kind in GRPC_STATUS} & server_faults
    assert grpc_status(errors.ServiceError("x")) == grpc.StatusCode.INTERNAL  # a new kind nobody mapped


@pytest.fixture
def app_with_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    app = create_app(Settings(model_repository=tmp_path))

    @app.get("/models/linear/bug")
    async def bug() -> None:
        raise RuntimeError("a bug on the router's path")

    async def broken_infer(served: object, request: InferenceRequest) -> None:
        raise RuntimeError("a bug on the fast lane")

    monkeypatch.setattr(app.state.adapters.plane, "infer", broken_infer)
    return app


def test_an_unexpected_error_is_a_json_500_with_its_request_id(app_with_a_bug, caplog) -> None:
    async def scenario() -> list[httpx.Response]:
        await app_with_a_bug.state.adapters.plane.registry.load_all()
        transport = httpx.ASGITransport(app=app_with_a_bug, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            lane = await client.post("/predict", json={"instances": [[1, 2, 3, 4]]}, headers={"x-request-id": "r-1"})
            routed = await client.get("/models/linear/bug", headers={"x-request-id": "r-2"})
        await app_with_a_bug.state.adapters.plane.registry.close()
        return [lane, routed]

    lane, routed = asyncio.run(scenario())
    for response, request_id in ((lane, "r-1"), (routed, "r-2")):
        assert response.status_code == 500
        assert response.headers["x-request-id"] == request_id
        assert response.headers["content-type"] == "application/json"
        assert "internal error" in response.json()["error"]
    assert "a bug on the fast lane" in caplog.text and "a bug on the router's path" in caplog.text

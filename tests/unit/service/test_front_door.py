"""The front door (service/http/front_door.py): HTTP requests start at the service's own outermost middleware,
unless an OpenTelemetry provider is configured, when FastAPI's way (its native telemetry) is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.app import create_app
from service.http.middleware import RequestContextMiddleware
from service.settings import Settings
from tests.support.onnx_models import linear_model


@pytest.fixture
def app(tmp_path: Path):
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    return create_app(Settings(model_repository=tmp_path))


def test_requests_start_at_the_request_context_middleware(app) -> None:
    assert isinstance(app._find_front(), RequestContextMiddleware)


def test_fastapi_keeps_its_way_when_a_telemetry_provider_is_configured(app, monkeypatch) -> None:
    monkeypatch.setattr(app._native_telemetry, "enabled", lambda: True)
    assert app._find_front() is None

"""A server whose repository holds one model shaped like the demo `digits` model, so the OpenAPI examples run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.protocols.examples import DEMO_INPUT, DEMO_LABELS, DEMO_MODEL, DEMO_VERSION
from tests.onnx_models import linear_model
from tests.server import RunningServer


@pytest.fixture(scope="session")
def digits_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits-repository")
    path = root / DEMO_MODEL / str(DEMO_VERSION) / "model.onnx"
    linear_model(path, n_features=64, labels=tuple(DEMO_LABELS), input_name=DEMO_INPUT, seed=3)
    return root


@pytest.fixture(scope="session")
def docs_server(digits_repository: Path) -> Iterator[RunningServer]:
    running = RunningServer({"MODEL_REPOSITORY": str(digits_repository)})
    yield running
    running.stop()

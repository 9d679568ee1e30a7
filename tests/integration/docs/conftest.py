"""A server holding the shipped demo model `digits` alone, so the OpenAPI examples run as a person would run them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.protocols.examples import DEMO_MODEL, DEMO_VERSION
from tests.support.server import DEMO_MODEL_FILE, RunningServer, serving


@pytest.fixture(scope="session")
def digits_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digits-repository")
    (root / DEMO_MODEL / str(DEMO_VERSION)).mkdir(parents=True)
    (root / DEMO_MODEL / str(DEMO_VERSION) / "model.onnx").symlink_to(DEMO_MODEL_FILE)
    return root


@pytest.fixture(scope="session")
def docs_server(digits_repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(digits_repository)})

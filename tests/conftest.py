from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.onnx_models import linear_model, two_input_model
from tests.support.server import DEMO_REPOSITORY, RunningServer, client_for, serving

KINDS = ("unit", "integration", "system")  # the folders under tests/, each a marker: `pytest -m unit`


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = item.nodeid.split("/")[1] if item.nodeid.startswith("tests/") else ""
        if kind in KINDS:
            item.add_marker(kind)


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with a one-input model (two versions), a two-input model and the shipped demo model."""
    root = tmp_path_factory.mktemp("repository")
    linear_model(root / "linear" / "1" / "model.onnx", seed=1)
    linear_model(root / "linear" / "2" / "model.onnx", seed=2, thresholds=[0.5, 0.3, 0.9])
    two_input_model(root / "pair" / "1" / "model.onnx")
    demo = DEMO_REPOSITORY / "digits" / "1" / "model.onnx"
    assert demo.is_file(), f"{demo} is missing: the shipped demo model is part of the checkout"
    (root / "digits" / "1").mkdir(parents=True)
    (root / "digits" / "1" / "model.onnx").symlink_to(demo)
    return root


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(repository), "MAX_BATCH_SIZE": "16", "MAX_BODY_BYTES": "65536"})


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(server)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.onnx_models import linear_model, two_input_model
from tests.server import ROOT, RunningServer, client_for, serving

DEMO_REPOSITORY = ROOT / "models"


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with a one-input model (two versions), a two-input model and the shipped demo model."""
    root = tmp_path_factory.mktemp("repository")
    linear_model(root / "linear" / "1" / "model.onnx", seed=1)
    linear_model(root / "linear" / "2" / "model.onnx", seed=2, thresholds=[0.5, 0.3, 0.9])
    two_input_model(root / "pair" / "1" / "model.onnx")
    demo = DEMO_REPOSITORY / "digits" / "1" / "model.onnx"
    if demo.exists():
        (root / "digits" / "1").mkdir(parents=True)
        (root / "digits" / "1" / "model.onnx").symlink_to(demo)
    return root


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(repository), "MAX_BATCH_SIZE": "16", "MAX_BODY_BYTES": "65536"})


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(server)

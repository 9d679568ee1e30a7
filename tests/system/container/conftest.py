"""Container tests: build the images once per session; every container started is removed afterwards.

Run by `make container-test` (which starts a Docker engine and the offline base image first); the default
`pytest` run deselects them (`-m "not container"` in pyproject's addopts).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.docker import EXPORTER_IMAGE, LABEL, SERVE_IMAGE, build, docker, inspect
from tests.support.server import ROOT

MODEL_EXPORT = ROOT / "model_export"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.container)


@pytest.fixture(scope="session")
def serve_image() -> str:
    started = time.monotonic()
    build("serve", SERVE_IMAGE)
    size = inspect(SERVE_IMAGE)["Size"]
    print(f"\nbuilt {SERVE_IMAGE} in {time.monotonic() - started:.0f}s, {size / 1e6:.0f} MB")
    return SERVE_IMAGE


@pytest.fixture(scope="session")
def exporter_image() -> str:
    started = time.monotonic()
    build("exporter", EXPORTER_IMAGE, timeout=3600)
    size = inspect(EXPORTER_IMAGE)["Size"]
    print(f"\nbuilt {EXPORTER_IMAGE} in {time.monotonic() - started:.0f}s, {size / 1e6:.0f} MB")
    return EXPORTER_IMAGE


@pytest.fixture(scope="session", autouse=True)
def remove_leftover_containers() -> Iterator[None]:
    """Safety net behind the per-test finalizers: nothing labelled by these tests outlives the session."""
    yield
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)

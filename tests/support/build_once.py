"""Session fixtures that cost minutes (models trained and exported through TensorFlow) built once per test run, not
once per pytest-xdist worker: the first worker to ask builds into a folder all workers share, the others wait on a
lock and read the pickled result. Without xdist it is a plain session-scoped build."""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)` once for the whole run; its result must pickle (paths and plain records, not Keras models)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base  # xdist: the workers' common parent
    folder, result = shared / f"built-{name}", shared / f"built-{name}.pickle"
    with open(shared / f"built-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if result.exists():
            return pickle.loads(result.read_bytes())
        folder.mkdir(exist_ok=True)
        built = build(folder)
        result.write_bytes(pickle.dumps(built))
        return built

"""`make run` serves the folder named by MODEL_REPOSITORY, given on make's command line or in the environment:
a real `make run` (its venv taken as installed) and a real server on a free port, asked which models it serves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import ROOT, free_port

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make_run(variables: list[str], env: dict[str, str], port: int) -> subprocess.Popen[str]:
    # This interpreter stands in for the venv's, and the install step is taken as done: the test runs inside it.
    command = [MAKE, "-s", "-o", ".venv/.serve-installed", "run", f"PY={sys.executable}", f"PORT={port}", *variables]
    environment = {key: value for key, value in os.environ.items() if key not in ("MODEL_REPOSITORY", "DEFAULT_MODEL")}
    environment.update(GRPC_PORT=str(free_port()), WORKERS="1")
    return subprocess.Popen(
        command, cwd=ROOT, env={**environment, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # make, its shell and the server: stopped together
    )  # fmt: skip


def served_models(process: subprocess.Popen[str], port: int, timeout: float = 60) -> list[str]:
    """The names GET /models lists once the server is ready; the server (and make) stopped afterwards."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    default = httpx.post(f"{url}/predict", json={"instances": [[0.0] * 64]}, timeout=10).json()
                    return [model["name"] for model in httpx.get(f"{url}/models", timeout=5).json()] + [
                        f"default {default['model_name']}"
                    ]
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"make run not ready after {timeout}s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def own_repository(tmp_path: Path) -> Path:
    (tmp_path / "mine" / "1").mkdir(parents=True)
    shutil.copy(ROOT / "models" / "digits" / "1" / "model.onnx", tmp_path / "mine" / "1" / "model.onnx")
    return tmp_path


def test_make_run_serves_the_folder_given_on_the_command_line(own_repository: Path) -> None:
    port = free_port()
    process = make_run([f"MODEL_REPOSITORY={own_repository}"], {}, port)
    assert served_models(process, port) == ["mine", "default mine"]


def test_make_run_serves_the_folder_in_the_environment(own_repository: Path) -> None:
    port = free_port()
    process = make_run([], {"MODEL_REPOSITORY": str(own_repository)}, port)
    assert served_models(process, port) == ["mine", "default mine"]


def test_make_run_serves_the_demos_with_digits_by_default() -> None:
    port = free_port()
    process = make_run([], {}, port)
    assert served_models(process, port) == ["digits", "docstrings", "docstrings_bert", "default digits"]

"""docker-compose.yml with Debian's docker-compose 1.29: valid in every combination, up -> healthy -> down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.docker import Container, inspect, readable_by_container
from tests.support.server import ROOT, free_port

EXAMPLES = json.loads((ROOT / "models" / "digits" / "examples.json").read_text())


def compose(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        ["docker-compose", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize(
    "files",
    [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.ports.yml"]],
    ids=["host-network", "published-port"],
)
def test_compose_files_validate(files: list[str]) -> None:
    options = [arg for name in files for arg in ("-f", name)]
    services = yaml.safe_load(compose(*options, "--profile", "export", "config"))["services"]
    assert services["exporter"]["profiles"] == ["export"]  # never started by a plain `up`
    assert "profiles" not in services["serve"]


@pytest.fixture
def compose_project(serve_image: str) -> Iterator[tuple[str, dict[str, str]]]:
    project = f"sigmoid-serve-test-{uuid.uuid4().hex[:8]}"
    env = {"SERVE_IMAGE": serve_image, "SERVE_PORT": str(free_port()), "SERVE_GRPC_PORT": str(free_port())}
    env["HEALTHCHECK_INTERVAL"] = "1s"
    yield project, env
    compose("-p", project, "down", "--volumes", "--remove-orphans", env=env)


def test_compose_up_turns_healthy_and_serves(compose_project: tuple[str, dict[str, str]]) -> None:
    project, env = compose_project
    compose("-p", project, "up", "-d", "--no-build", env=env)
    (container_id,) = compose("-p", project, "ps", "-q", env=env).split()  # the exporter's profile is off
    Container.attach(container_id).wait_healthy()

    host = inspect(container_id)["HostConfig"]
    assert host["NetworkMode"] == "host"
    assert host["ReadonlyRootfs"] is True
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["Memory"] == 1024**3
    assert host["NanoCpus"] == 10**9
    assert [m["Destination"] for m in inspect(container_id)["Mounts"] if not m["RW"]] == ["/models"]

    url = f"http://127.0.0.1:{env['SERVE_PORT']}"
    response = httpx.post(f"{url}/predict", json={"instances": EXAMPLES["instances"]}, timeout=10)
    assert [p["labels"] for p in response.json()["predictions"]] == EXAMPLES["labels"]


def test_compose_serves_the_folder_in_models_dir(compose_project: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """MODELS_DIR mounts another repository (here one model, so DEFAULT_MODEL is left empty: its only model)."""
    project, env = compose_project
    (tmp_path / "mine" / "1").mkdir(parents=True)
    shutil.copy(ROOT / "models" / "digits" / "1" / "model.onnx", tmp_path / "mine" / "1" / "model.onnx")
    env = {**env, "MODELS_DIR": str(readable_by_container(tmp_path)), "DEFAULT_MODEL": ""}
    services = yaml.safe_load(compose("--profile", "export", "config", env=env))["services"]
    assert services["serve"]["volumes"] == [f"{tmp_path}:/models:ro"]
    assert services["exporter"]["volumes"][0] == f"{tmp_path}:/models:rw"
    assert services["serve"]["environment"]["DEFAULT_MODEL"] == ""

    compose("-p", project, "up", "-d", "--no-build", env=env)
    (container_id,) = compose("-p", project, "ps", "-q", env=env).split()
    Container.attach(container_id).wait_healthy()
    url = f"http://127.0.0.1:{env['SERVE_PORT']}"
    assert [model["name"] for model in httpx.get(f"{url}/models", timeout=10).json()] == ["mine"]
    response = httpx.post(f"{url}/predict", json={"instances": EXAMPLES["instances"]}, timeout=10)
    assert response.json()["model_name"] == "mine"


def test_compose_defaults_to_the_demo_folder_and_digits() -> None:
    environment = {key: value for key, value in os.environ.items() if key not in ("MODELS_DIR", "DEFAULT_MODEL")}
    result = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    serve = yaml.safe_load(result.stdout)["services"]["serve"]
    assert serve["volumes"] == [f"{ROOT / 'models'}:/models:ro"]
    assert serve["environment"]["DEFAULT_MODEL"] == "digits"

"""The serving image for real: read-only root, non-root user, Docker health status, predict, graceful stop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.docker import Container, docker, inspect, readable_by_container
from tests.support.onnx_models import linear_model
from tests.support.server import ROOT, free_port
from tests.support.slow_model import slow_model

READ_ONLY = ["--read-only", "--tmpfs", "/tmp", "--health-interval", "1s"]
EXAMPLES = json.loads((ROOT / "models" / "digits" / "examples.json").read_text())
SIZE_BUDGET_MB = 400


@pytest.fixture
def started() -> Iterator[list[Container]]:
    containers: list[Container] = []
    yield containers
    for container in containers:
        container.remove()


def run_serving(image: str, started: list[Container], **kwargs) -> tuple[Container, str]:
    port = free_port()
    # Host networking: each container its own gRPC port too (the default 8001 may be taken on this machine).
    env = {"HOST": "127.0.0.1", "PORT": str(port), "GRPC_PORT": str(free_port()), **kwargs.pop("env", {})}
    container = Container(image, READ_ONLY + kwargs.pop("options", []), env=env, **kwargs)
    started.append(container)
    container.wait_healthy()
    return container, f"http://127.0.0.1:{port}"


def test_image_metadata(serve_image: str) -> None:
    config = inspect(serve_image)["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][:2] == ["/bin/sh", "-c"] and "exec python -m service" in config["Entrypoint"][2]
    assert {"8000/tcp", "8001/tcp"} <= set(config["ExposedPorts"])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert {k: env[k] for k in ("HOST", "PORT", "GRPC_PORT", "MODEL_REPOSITORY")} == {
        "HOST": "0.0.0.0",
        "PORT": "8000",
        "GRPC_PORT": "8001",
        "MODEL_REPOSITORY": "/models",
    }
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "service.server.healthcheck"]
    assert inspect(serve_image)["Size"] < SIZE_BUDGET_MB * 1e6


def test_image_holds_no_tensorflow_and_no_compiler(serve_image: str) -> None:
    probe = (
        "import importlib.util, shutil; "
        "print([m for m in ('tensorflow', 'tf2onnx', 'onnx', 'keras') if importlib.util.find_spec(m)], "
        "[c for c in ('gcc', 'cc', 'g++', 'make') if shutil.which(c)])"
    )
    result = docker("run", "--rm", "--network", "host", "--entrypoint", "python", serve_image, "-c", probe)
    assert result.stdout.strip() == "[] []"


@pytest.mark.parametrize("cpus", ["1", "1.5"])
def test_auto_workers_follow_docker_cpus(serve_image: str, cpus: str) -> None:
    """`docker run --cpus` sets a CFS quota on a cgroup v1 host and cpu.max on v2: WORKERS=auto counts its whole
    CPUs (docker cannot give more CPUs than the host has, so 1 is the count every host can check)."""
    probe = "from service.settings import Settings; print(Settings().workers)"
    options = ["--rm", "--network", "host", "--cpus", cpus, "--entrypoint", "python"]
    assert docker("run", *options, serve_image, "-c", probe).stdout.strip() == "1"


def test_demo_model_served_read_only_as_non_root(serve_image: str, started: list[Container]) -> None:
    container, url = run_serving(serve_image, started)
    assert docker("exec", container.id, "id", "-u").stdout.strip() == "10001"
    assert httpx.get(f"{url}/health/live").status_code == 200
    assert httpx.get(f"{url}/health/ready").json()["models"] == {"digits": 1, "docstrings": 1, "docstrings_bert": 1}
    response = httpx.post(f"{url}/models/digits/predict", json={"instances": EXAMPLES["instances"]}, timeout=10)
    assert response.status_code == 200
    assert [p["labels"] for p in response.json()["predictions"]] == EXAMPLES["labels"]
    # The v2 (KServe / Open Inference) health endpoints that deploy/kserve probes.
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v2/models/digits/ready").status_code == 200
    # gRPC on GRPC_PORT: the health service a Kubernetes grpc probe calls, and an inference with raw tensors.
    env = dict(item.split("=", 1) for item in inspect(container.id)["Config"]["Env"])
    target = f"127.0.0.1:{env['GRPC_PORT']}"
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    client = triton_grpc.InferenceServerClient(target)
    pixels = triton_grpc.InferInput("pixels", [len(EXAMPLES["instances"]), 64], "FP32")
    pixels.set_data_from_numpy(np.array(EXAMPLES["instances"], np.float32))
    predictions = client.infer("digits", [pixels]).as_numpy("predictions")
    client.close()
    labels = ["even", "prime", "at_least_5", "closed_loop", "multiple_of_3"]
    assert [[label for label, hot in zip(labels, row, strict=True) if hot] for row in predictions] == EXAMPLES["labels"]


def test_the_demo_folder_answers_predict_with_digits(serve_image: str, started: list[Container]) -> None:
    _, url = run_serving(serve_image, started)
    body = httpx.post(f"{url}/predict", json={"instances": EXAMPLES["instances"]}, timeout=10).json()
    assert body["model_name"] == "digits"
    assert [p["labels"] for p in body["predictions"]] == EXAMPLES["labels"]


def test_mounted_repository_replaces_the_baked_in_one(
    serve_image: str, started: list[Container], tmp_path: Path
) -> None:
    weights = linear_model(tmp_path / "linear" / "3" / "model.onnx", seed=5)
    volumes = {readable_by_container(tmp_path): "/mnt/models:ro"}
    _, url = run_serving(serve_image, started, env={"MODEL_REPOSITORY": "/mnt/models"}, volumes=volumes)
    assert httpx.get(f"{url}/health/ready").json()["models"] == {"linear": 3}
    row = [0.5, -1.0, 2.0, 0.25]
    body = httpx.post(f"{url}/predict", json={"instances": [row]}).json()
    expected = 1 / (1 + np.exp(-(np.array(row, np.float32) @ weights["weights"] + weights["bias"])))
    assert body["predictions"][0]["probabilities"] == pytest.approx(expected.tolist(), rel=1e-4)


def test_docker_stop_finishes_in_flight_requests_and_exits_0(
    serve_image: str, started: list[Container], tmp_path: Path
) -> None:
    slow_model(tmp_path / "slow" / "1" / "model.onnx", steps=12)
    container, url = run_serving(
        serve_image,
        started,
        env={"MODEL_REPOSITORY": "/mnt/models", "MAX_BATCH_SIZE": "1", "SHUTDOWN_GRACE_SECONDS": "60"},
        volumes={readable_by_container(tmp_path): "/mnt/models:ro"},
    )

    def predict() -> httpx.Response:
        return httpx.post(f"{url}/predict", json={"instances": [[0.1, 0.2, 0.3, 0.4]]}, timeout=120)

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(predict) for _ in range(3)]
        time.sleep(0.5)  # let the server accept the three connections
        assert not all(f.done() for f in futures), "requests must still be in flight at docker stop"
        docker("stop", "-t", "90", container.id, timeout=120)
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200, 200, 200]
    assert inspect(container.id)["State"]["OOMKilled"] is False
    assert container.exit_code() == 0, container.logs()
    logs = container.logs()
    assert "readiness is 503" in logs
    assert "Finished server process" in logs


def test_prestop_sleep_exists_in_the_image(serve_image: str) -> None:
    """deploy/deployment.yaml's preStop hook runs `sleep 5` inside this image."""
    result = docker("run", "--rm", "--network", "host", "--read-only", "--entrypoint", "sleep", serve_image, "0")
    assert result.returncode == 0

"""The exporter image (TensorFlow + tf2onnx) converts a real Keras model into a mounted folder, and the
serving image serves the result."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.docker import Container, docker, readable_by_container
from tests.support.server import free_port

LABELS = ["cat", "dog", "bird"]


def test_exporter_help(exporter_image: str) -> None:
    result = docker("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", exporter_image, "--help")
    assert "--output" in result.stdout and "--labels" in result.stdout


@pytest.fixture
def keras_model(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A tiny logits model (no sigmoid on the last layer), saved as .keras; returns rows and its logits."""
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(8, "relu"), keras.layers.Dense(3)])
    source = tmp_path / "input" / "tiny.keras"
    source.parent.mkdir()
    model.save(source)
    rows = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    return readable_by_container(source.parent), rows, np.asarray(model(rows))


@pytest.fixture
def serving() -> Iterator[list[Container]]:
    containers: list[Container] = []
    yield containers
    for container in containers:
        container.remove()


def test_exporter_converts_into_a_mounted_folder_and_the_server_serves_it(
    exporter_image: str,
    serve_image: str,
    keras_model: tuple[Path, np.ndarray, np.ndarray],
    tmp_path: Path,
    serving: list[Container],
) -> None:
    source_dir, rows, logits = keras_model
    repository = tmp_path / "repository"
    repository.mkdir(mode=0o777)
    repository.chmod(0o777)  # the exporter runs as uid 10001
    result = docker(
        "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "-v", f"{source_dir}:/input:ro", "-v", f"{repository}:/models",
        exporter_image, "/input/tiny.keras", "--output", "/models/tiny/1/model.onnx", "--labels", ",".join(LABELS),
        timeout=600,
    )  # fmt: skip
    assert (repository / "tiny" / "1" / "model.onnx").is_file(), result.stdout + result.stderr

    port = free_port()
    container = Container(
        serve_image,
        ["--read-only", "--tmpfs", "/tmp", "--health-interval", "1s"],
        env={"HOST": "127.0.0.1", "PORT": str(port)},
        volumes={readable_by_container(repository): "/models:ro"},
    )
    serving.append(container)
    container.wait_healthy()
    body = httpx.post(f"http://127.0.0.1:{port}/predict", json={"instances": rows.tolist()}, timeout=10).json()
    assert body["labels"] == LABELS
    probabilities = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-5)


def test_exporter_without_user_on_a_folder_of_another_user_says_which_user_to_run_as(
    exporter_image: str, keras_model: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """The image runs as uid 10001; a mounted folder of yours (0755) refuses it: one line naming both uids and the
    `--user` to pass, exit 2, nothing written. With that `--user`, the same command writes the model."""
    source_dir, _, _ = keras_model
    repository = tmp_path / "mine"
    repository.mkdir()
    repository.chmod(0o755)
    command = ["-v", f"{source_dir}:/input:ro", "-v", f"{repository}:/models", exporter_image]
    command += ["/input/tiny.keras", "--output", "/models/tiny/1/model.onnx", "--labels", ",".join(LABELS)]
    refused = docker("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", *command, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len([line for line in lines if line.startswith("error: ")]) == 1 and lines[-1].startswith("error: ")
    assert lines[-1] == (
        f"error: cannot write /models/tiny/1/model.onnx: this user (uid 10001) may not write in /models, which "
        f"belongs to uid {os.getuid()}; run the container as the folder's owner: "
        'docker run --user "$(id -u):$(id -g)" ... (the image\'s own user is uid 10001)'
    )
    assert list(repository.iterdir()) == []

    owner = f"{os.getuid()}:{os.getgid()}"
    written = docker(
        "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--user", owner, *command, timeout=600
    )  # fmt: skip
    assert (repository / "tiny" / "1" / "model.onnx").is_file(), written.stdout + written.stderr

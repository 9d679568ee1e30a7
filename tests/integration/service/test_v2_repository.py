"""Triton's repository extension (index, load, unload) on a real server with polling off, and path safety."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tritonclient.http as triton

from tests.support.repository_files import publish_corrupt, publish_linear
from tests.support.server import RunningServer, client_for, serving

ROW = [[0.1, 0.2, 0.3, 0.4]]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base/repository holds the served models; base/outside holds a valid model that must never be reachable."""
    base = tmp_path_factory.mktemp("control")
    publish_linear(base / "repository", "alpha", 1, seed=1)
    publish_linear(base / "repository", "beta", 1, seed=2)
    publish_linear(base, "outside", 1, seed=3)
    return base


@pytest.fixture(scope="module")
def control_server(layout: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(layout / "repository"), "MODEL_POLL_SECONDS": "0"})


@pytest.fixture
def http(control_server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(control_server)


def index(http: httpx.Client, **body: object) -> dict[str, dict]:
    response = http.post("/v2/repository/index", json=body)
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()}


def test_index_lists_models_triton_style(http: httpx.Client) -> None:
    entries = index(http)
    assert entries["alpha"] == {"name": "alpha", "version": "1", "state": "READY", "reason": ""}
    assert "outside" not in entries
    assert http.post("/v2/repository/index").status_code == 200  # the body is optional
    assert http.post("/v2/repository/index", json={"ready": "yes"}).status_code == 400


def test_unload_then_load(http: httpx.Client) -> None:
    assert http.post("/v2/repository/models/beta/unload").json() == {}
    assert index(http)["beta"] == {"name": "beta", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}
    assert "beta" not in index(http, ready=True)
    refused = http.post("/models/beta/predict", json={"instances": ROW})
    assert refused.status_code == 503 and "unloaded" in refused.json()["error"]
    assert http.get("/health/ready").status_code == 200  # an unload was asked for: still ready

    assert http.post("/v2/repository/models/beta/load", json={}).status_code == 200
    assert index(http)["beta"]["state"] == "READY"
    assert http.post("/models/beta/predict", json={"instances": ROW}).status_code == 200


def test_load_picks_up_new_models_and_versions_when_polling_is_off(http: httpx.Client, layout: Path) -> None:
    repository = layout / "repository"
    publish_linear(repository, "gamma", 1, seed=4)
    assert index(http)["gamma"]["state"] == "UNAVAILABLE"  # on disk, not loaded: no poller
    assert http.post("/v2/repository/models/gamma/load").status_code == 200
    assert http.post("/models/gamma/predict", json={"instances": ROW}).status_code == 200
    publish_linear(repository, "gamma", 2, seed=5)
    assert http.post("/v2/repository/models/gamma/load").status_code == 200
    assert http.get("/models/gamma").json()["version"] == 2


def test_failed_load_is_a_400_and_the_old_version_keeps_serving(http: httpx.Client, layout: Path) -> None:
    publish_corrupt(layout / "repository", "alpha", 2)
    failed = http.post("/v2/repository/models/alpha/load")
    assert failed.status_code == 400 and "version 2" in failed.json()["error"]
    entry = index(http)["alpha"]
    assert entry["state"] == "READY" and entry["version"] == "1" and "version 2" in entry["reason"]
    assert http.post("/models/alpha/predict", json={"instances": ROW}).json()["model_version"] == 1


def test_load_errors(http: httpx.Client) -> None:
    missing = http.post("/v2/repository/models/nothing/load")
    assert missing.status_code == 404 and "nothing" in missing.json()["error"]
    assert http.post("/v2/repository/models/nothing/unload").status_code == 404
    config = http.post("/v2/repository/models/alpha/load", json={"parameters": {"config": "{}"}})
    assert config.status_code == 400 and "config" in config.json()["error"]
    assert http.post("/v2/repository/models/alpha/load", content=b"[1]").status_code == 400


def test_tritonclient_drives_the_repository_api(control_server: RunningServer) -> None:
    client = triton.InferenceServerClient(control_server.url.removeprefix("http://"))
    client.unload_model("beta")
    states = {m["name"]: m["state"] for m in client.get_model_repository_index()}
    assert states["beta"] == "UNAVAILABLE"
    client.load_model("beta")
    states = {m["name"]: m["state"] for m in client.get_model_repository_index()}
    assert states["beta"] == "READY"
    client.close()


def raw_post_status(port: int, path: str) -> int:
    """Send the path byte for byte (HTTP clients would normalize '..' away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "name",
    ["..", "..%2Foutside", "..%2F..%2Foutside", "%2E%2E", "%2Ftmp%2Foutside", "a%5C..%5Coutside", ".hidden", "a%00b"],
)
def test_model_names_cannot_leave_the_repository(control_server: RunningServer, layout: Path, name: str) -> None:
    for action in ("load", "unload"):
        status = raw_post_status(control_server.port, f"/v2/repository/models/{name}/{action}")
        assert 400 <= status < 500, (name, action, status)
    with httpx.Client(base_url=control_server.url) as http:
        assert "outside" not in index(http)
        assert http.get("/models/outside").status_code == 404

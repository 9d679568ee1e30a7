"""Hot reload against a real server polling its own repository: swaps under load, rejection, removal."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.repository_files import expected_probabilities, publish_corrupt, publish_linear, wait_for
from tests.support.server import RunningServer, client_for, serving

CLIENTS = 4
MAX_REQUESTS_PER_CLIENT = 5000  # bounds the load whatever happens
ROWS = np.random.default_rng(11).normal(size=(3, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def hot_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hot-repository")


@pytest.fixture(scope="module")
def weights(hot_repository: Path) -> dict[int, dict[str, np.ndarray]]:
    return {1: publish_linear(hot_repository, "hot", 1, seed=101)}


@pytest.fixture(scope="module")
def hot_server(hot_repository: Path, weights: dict) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(hot_repository), "MODEL_POLL_SECONDS": "0.05"})


@pytest.fixture
def http(hot_server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(hot_server)


def served_version(http: httpx.Client, name: str = "hot") -> int | None:
    response = http.get(f"/models/{name}")
    return response.json()["version"] if response.status_code == 200 else None


def test_swaps_under_load_fail_no_request(hot_server: RunningServer, hot_repository: Path, weights: dict) -> None:
    stop = threading.Event()
    answers: list[list[tuple[int, list]]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=hot_server.url, timeout=10) as client:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                try:
                    response = client.post("/models/hot/predict", json={"instances": ROWS.tolist()})
                except httpx.HTTPError as exc:
                    failures.append(f"client {index}: {exc!r}")
                    continue
                if response.status_code != 200:
                    failures.append(f"client {index}: {response.status_code} {response.text}")
                    continue
                body = response.json()
                answers[index].append((body["model_version"], [p["probabilities"] for p in body["predictions"]]))

    def every_client_saw(version: int) -> bool:
        return all(any(v == version for v, _ in client_answers) for client_answers in answers)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        with httpx.Client(base_url=hot_server.url, timeout=10) as http:
            wait_for(lambda: every_client_saw(1), "every client served by version 1")
            weights[2] = publish_linear(hot_repository, "hot", 2, seed=102)
            wait_for(lambda: every_client_saw(2), "every client served by version 2")

            publish_corrupt(hot_repository, "hot", 3)
            wait_for(lambda: "version 3" in (http.get("/models/hot").json()["error"] or ""), "version 3 rejected")
            info = http.get("/models/hot").json()
            assert info["version"] == 2 and info["ready"] and info["versions"] == [1, 2, 3]
            assert http.get("/health/ready").status_code == 200  # the old version serves: still ready

            weights[4] = publish_linear(hot_repository, "hot", 4, seed=104)
            wait_for(lambda: every_client_saw(4), "every client served by version 4")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert failures == []
    for client_answers in answers:
        versions = [version for version, _ in client_answers]
        assert versions == sorted(versions), "a client went back to an older version"
        assert versions[-1] == 4 and 3 not in versions
        for version, probabilities in client_answers:
            np.testing.assert_allclose(probabilities, expected_probabilities(weights[version], ROWS), atol=1e-6)
    info = httpx.get(hot_server.url + "/models/hot").json()
    assert info["version"] == 4 and info["error"] is None  # version 3 is older than what serves: no longer an issue


def test_removed_model_unloads_and_comes_back(http: httpx.Client, hot_repository: Path) -> None:
    publish_linear(hot_repository, "gone", 1, seed=5)
    wait_for(lambda: served_version(http, "gone") == 1, "new model folder loaded")

    shutil.rmtree(hot_repository / "gone")
    wait_for(lambda: http.get("/models/gone").status_code == 404, "removed model unloaded")
    response = http.post("/models/gone/predict", json={"instances": ROWS.tolist()})
    assert response.status_code == 404 and "unknown model 'gone'" in response.json()["error"]
    assert http.get("/health/ready").status_code == 200

    publish_linear(hot_repository, "gone", 1, seed=5)
    wait_for(lambda: served_version(http, "gone") == 1, "model added back loaded")
    assert http.post("/models/gone/predict", json={"instances": ROWS.tolist()}).status_code == 200


def test_new_model_that_fails_to_load_makes_the_server_not_ready(http: httpx.Client, hot_repository: Path) -> None:
    publish_corrupt(hot_repository, "broken", 1)
    wait_for(lambda: http.get("/models/broken").status_code == 200, "broken model noticed")
    ready = http.get("/health/ready")
    assert ready.status_code == 503 and "broken" in ready.json()["error"]
    assert "version 1" in http.get("/models/broken").json()["error"]
    assert http.post("/models/hot/predict", json={"instances": ROWS.tolist()}).status_code == 200

    shutil.rmtree(hot_repository / "broken")
    wait_for(lambda: http.get("/health/ready").status_code == 200, "ready again once the broken model is gone")

"""The repository explains itself: whatever is not NAME/VERSION/model.onnx is reported (model metadata, the
repository index, readiness' problems, one log line each), and nothing in it can make the server answer 5xx."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.repository_files import publish_linear, wait_for
from tests.support.server import RunningServer, serving, unprivileged

TIMESTAMP = "20261128224455123456789"  # a version folder named by a timestamp: past int64


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("messy")
    publish_linear(root, "mymodel", 1, seed=1)
    for folder, file in (("v4", "model.onnx"), ("5", "mymodel.onnx"), (TIMESTAMP, "model.onnx"), ("007", "model.onnx")):
        (root / "mymodel" / folder).mkdir()
        shutil.copy(root / "mymodel" / "1" / "model.onnx", root / "mymodel" / folder / file)
    (root / "newmodel").mkdir()
    shutil.copy(root / "mymodel" / "1" / "model.onnx", root / "newmodel" / "model.onnx")
    (root / "README.txt").write_text("models live here")
    (root / ".model.onnx.tmp").write_text("a writer's temporary file: not reported")
    return root


@pytest.fixture(scope="module")
def messy_server(messy: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(messy), "MODEL_POLL_SECONDS": "0.2"})


def test_every_misplaced_entry_is_named_with_what_was_expected(messy_server: RunningServer) -> None:
    mymodel = httpx.get(f"{messy_server.url}/models/mymodel").json()
    assert mymodel["ready"] and mymodel["version"] == 1 and mymodel["versions"] == [1]
    ignored = "\n".join(mymodel["ignored"])
    assert "v4/: not a version number" in ignored
    assert "5/: no model.onnx in it (found mymodel.onnx: name it model.onnx)" in ignored
    assert f"{TIMESTAMP}/: not a version number" in ignored and "007/: not a version number" in ignored
    newmodel = httpx.get(f"{messy_server.url}/models/newmodel").json()
    assert newmodel["state"] == "failed" and "expected newmodel/1/model.onnx" in newmodel["error"]
    assert newmodel["ignored"] == ["model.onnx: a model file directly in newmodel/ (expected newmodel/1/model.onnx)"]
    index = {e["name"]: e for e in httpx.post(f"{messy_server.url}/v2/repository/index").json()}
    assert index["mymodel"]["state"] == "READY" and "ignored: v4/" in index["mymodel"]["reason"]
    assert (
        index["newmodel"]["state"] == "UNAVAILABLE"
        and "model file directly in newmodel/" in index["newmodel"]["reason"]
    )


def test_nothing_in_the_repository_makes_a_5xx(messy_server: RunningServer) -> None:
    url = messy_server.url
    ready = httpx.get(f"{url}/health/ready")
    assert ready.status_code == 200  # newmodel has no version to wait for; mymodel serves
    problems = "\n".join(ready.json()["problems"])
    assert "ignored: README.txt" in problems and f"mymodel: ignored: {TIMESTAMP}/" in problems
    assert httpx.get(f"{url}/models").status_code == 200
    assert httpx.post(f"{url}/models/mymodel/predict", json={"instances": [[1, 2, 3, 4]]}).status_code == 200
    big = httpx.post(f"{url}/models/mymodel/versions/{TIMESTAMP}/predict", json={"instances": [[1, 2, 3, 4]]})
    assert big.status_code in (400, 404), big.text
    assert httpx.get(f"{url}/v2/models/mymodel/versions/{TIMESTAMP}/ready").status_code in (400, 404)


def test_each_problem_is_logged_once_not_on_every_poll(messy_server: RunningServer) -> None:
    time.sleep(1.0)  # several polls
    lines = [line for line in messy_server.lines if "model repository: ignoring mymodel/v4/" in line]
    assert len(lines) == 1, lines
    assert not any(".model.onnx.tmp" in line for line in messy_server.lines)


def test_an_unreadable_version_is_its_models_problem_alone(tmp_path: Path) -> None:
    """Written under umask 077 by another user: the server cannot read it. Other models keep updating, the reason
    shows where people look, readiness says why, and once readable it loads."""
    publish_linear(tmp_path, "other", 1, seed=1)
    publish_linear(tmp_path, "mymodel", 1, seed=2)
    (tmp_path / "mymodel" / "1").chmod(0o000)
    try:
        env = {"MODEL_REPOSITORY": str(tmp_path), "MODEL_POLL_SECONDS": "0.2"}
        server = RunningServer(env, wait_ready=False, prefix=unprivileged())
        with server, httpx.Client(base_url=server.url, timeout=10) as http:
            wait_for(lambda: http.get("/models/other").json()["ready"], "the readable model served")
            wait_for(lambda: "permission denied" in http.get("/health/ready").text, "readiness to say why")
            assert http.get("/health/ready").status_code == 503
            assert "permission denied" in http.get("/models/mymodel").json()["error"]
            index = {e["name"]: e for e in http.post("/v2/repository/index").json()}
            assert "permission denied" in index["mymodel"]["reason"]
            assert any("mymodel" in line and "permission denied" in line for line in server.lines), server.output
            publish_linear(tmp_path, "other", 2, seed=3)  # updates of other models go on
            wait_for(lambda: http.get("/models/other").json()["version"] == 2, "another model's new version")
            (tmp_path / "mymodel" / "1").chmod(0o755)
            wait_for(lambda: http.get("/health/ready").status_code == 200, "ready once it can be read")
            assert http.get("/models/mymodel").json()["version"] == 1
    finally:
        (tmp_path / "mymodel" / "1").chmod(0o755)


def test_an_unreadable_repository_at_start_is_said_then_served_once_readable(tmp_path: Path) -> None:
    publish_linear(tmp_path, "m", 1, seed=1)
    tmp_path.chmod(0o000)
    try:
        env = {"MODEL_REPOSITORY": str(tmp_path), "MODEL_POLL_SECONDS": "0.2"}
        with RunningServer(env, wait_ready=False, prefix=unprivileged()) as server:
            ready = f"{server.url}/health/ready"
            wait_for(lambda: "cannot list the repository" in httpx.get(ready).text, "the reason")
            assert httpx.get(f"{server.url}/health/ready").status_code == 503
            tmp_path.chmod(0o755)
            server.wait_until("/health/ready")
            assert httpx.get(f"{server.url}/models/m").json()["ready"]
    finally:
        tmp_path.chmod(0o755)

"""deploy/haproxy/docker-compose.yml with Debian's docker-compose 1.29 and a real Docker engine: the images built,
3 replicas and haproxy up with host networking only (the replicas on their own loopback ports), predictions through
the balancer on REST and gRPC spread over the replicas, a replica restarted in place under traffic without a failed
request (the drain), and everything torn down. Run by `make container-test` (marked `container`)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.support.docker import SERVE_IMAGE, Container, build, inspect
from tests.support.server import ROOT, free_port

pytestmark = pytest.mark.container

KIT = ROOT / "deploy" / "haproxy"
BALANCER_IMAGE = "sigmoid-serve-haproxy:test"
EXAMPLES = json.loads((ROOT / "models" / "digits" / "examples.json").read_text())
PORTS = ["BALANCER_PORT", "BALANCER_GRPC_PORT", "BALANCER_STATS_PORT"]
PORTS += [f"REPLICA{i}_{kind}PORT" for i in (1, 2, 3) for kind in ("", "GRPC_")]


def compose(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    result = subprocess.run(
        ["docker-compose", "-f", str(KIT / "docker-compose.yml"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def kit() -> Iterator[dict[str, str]]:
    build("serve", SERVE_IMAGE)
    env = {port: str(free_port()) for port in PORTS}
    env |= {"COMPOSE_PROJECT_NAME": f"sigmoid-scaleout-{uuid.uuid4().hex[:8]}", "SERVE_IMAGE": SERVE_IMAGE}
    # The balancer is Debian's haproxy on a Debian bookworm base: the python:3.11-slim stand-in is one (no registry).
    env |= {"BALANCER_IMAGE": BALANCER_IMAGE, "BALANCER_BASE_IMAGE": "python:3.11-slim", "HEALTHCHECK_INTERVAL": "1s"}
    compose(env, "build", "balancer", timeout=1200)
    try:
        compose(env, "up", "-d", "--no-build")
        for replica in ("replica1", "replica2", "replica3"):
            Container.attach(container_of(env, replica)).wait_healthy()
        wait_all_up(env)
        yield env
    finally:
        compose(env, "down", "--volumes", "--remove-orphans")


def container_of(env: dict[str, str], service: str) -> str:
    return compose(env, "ps", "-q", service).strip()


def servers(env: dict[str, str]) -> dict[tuple[str, str], dict[str, str]]:
    text = httpx.get(f"http://127.0.0.1:{env['BALANCER_STATS_PORT']}/stats;csv", timeout=5).text
    rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
    return {(r["pxname"], r["svname"]): r for r in rows if r["svname"].startswith("replica")}


def wait_all_up(env: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = {key: row["status"] for key, row in servers(env).items()}
            if len(states) == 6 and set(states.values()) == {"UP"}:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"haproxy does not see every replica UP: {servers(env)}")


def test_the_kit_runs_on_the_host_network_over_one_repository(kit: dict[str, str]) -> None:
    mounts = set()
    for service in ("replica1", "replica2", "replica3", "balancer"):
        container = inspect(container_of(kit, service))
        assert container["HostConfig"]["NetworkMode"] == "host"
        mounts |= {(m["Source"], m["Destination"]) for m in container["Mounts"] if m["Destination"] == "/models"}
    assert mounts == {(str(ROOT / "models"), "/models")}  # one repository, shared by the three


def test_predictions_through_the_balancer_on_both_protocols(kit: dict[str, str]) -> None:
    before = servers(kit)
    rest = f"http://127.0.0.1:{kit['BALANCER_PORT']}"
    with httpx.Client(base_url=rest, timeout=10) as client:
        for _ in range(30):
            answer = client.post("/predict", json={"instances": EXAMPLES["instances"]})
            assert [p["labels"] for p in answer.json()["predictions"]] == EXAMPLES["labels"]
    expected = np.array([p["probabilities"] for p in answer.json()["predictions"]], np.float32)
    grpc = triton.InferenceServerClient(f"127.0.0.1:{kit['BALANCER_GRPC_PORT']}")
    rows = np.array(EXAMPLES["instances"], np.float32)
    tensor = triton.InferInput("pixels", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    for _ in range(30):
        result = grpc.infer("digits", [tensor])
        assert np.array_equal(result.as_numpy("probabilities"), expected)
    grpc.close()
    after = servers(kit)
    for backend in ("replicas_rest", "replicas_grpc"):
        names = ("replica1", "replica2", "replica3")
        spread = [int(after[(backend, r)]["stot"]) - int(before[(backend, r)]["stot"]) for r in names]
        assert all(count > 0 for count in spread), f"{backend}: {spread}"  # per request, not per connection


def test_a_replica_restarted_under_traffic_fails_no_request(kit: dict[str, str]) -> None:
    """`docker-compose restart replica2`: SIGTERM, readiness 503 while it still serves, haproxy takes it out, the
    drain, the start, haproxy puts it back; REST and gRPC calls all the while."""
    failures: list[str] = []
    answered = {"rest": 0, "grpc": 0}
    stop = threading.Event()

    def rest_calls() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{kit['BALANCER_PORT']}", timeout=10) as client:
            while not stop.is_set():
                response = client.post("/predict", json={"instances": EXAMPLES["instances"][:1]})
                answered["rest"] += 1
                if response.status_code != 200:
                    failures.append(f"rest {response.status_code} {response.text[:200]}")

    def grpc_calls() -> None:
        client = triton.InferenceServerClient(f"127.0.0.1:{kit['BALANCER_GRPC_PORT']}")
        tensor = triton.InferInput("pixels", [1, 64], "FP32")
        tensor.set_data_from_numpy(np.array(EXAMPLES["instances"][:1], np.float32))
        while not stop.is_set():
            try:
                client.infer("digits", [tensor])
                answered["grpc"] += 1
            except Exception as failure:  # noqa: BLE001 - any failure is the finding
                failures.append(f"grpc {failure}")
        client.close()

    callers = [threading.Thread(target=rest_calls), threading.Thread(target=grpc_calls)]
    for caller in callers:
        caller.start()
    try:
        compose(kit, "restart", "replica2")
        Container.attach(container_of(kit, "replica2")).wait_healthy()
        wait_all_up(kit)
        time.sleep(1)
    finally:
        stop.set()
        for caller in callers:
            caller.join(30)
    assert failures == [], failures[:5]
    assert answered["rest"] > 50 and answered["grpc"] > 50, answered
    state = inspect(container_of(kit, "replica2"))["State"]
    assert state["Running"] and inspect(container_of(kit, "replica2"))["RestartCount"] == 0

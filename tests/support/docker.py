"""Thin helpers over the `docker` CLI for the container tests: build, run, wait for health, clean up."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.server import ROOT

SERVE_IMAGE = "sigmoid-serve:test"
EXPORTER_IMAGE = "sigmoid-serve-exporter:test"
LABEL = "org.sigmoid-serve.test=1"  # every container the tests start carries it


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def build(target: str, tag: str, timeout: float = 1800) -> None:
    docker(
        "build", "--network", "host", "--force-rm", "--target", target, "-t", tag, str(ROOT), timeout=timeout
    )  # fmt: skip


def readable_by_container(path: Path) -> Path:
    """pytest's tmp folders are 0700 (root): the image's uid 10001 must read a mounted repository."""
    for item in [path, *path.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return path


def inspect(name: str) -> dict:
    return json.loads(docker("inspect", name).stdout)[0]


class Container:
    """`docker run -d` with host networking; `remove()` always runs in the fixtures' finalizers."""

    def __init__(
        self,
        image: str,
        options: list[str] | None = None,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        volumes: dict[Path, str] | None = None,
    ) -> None:
        args = ["--network", "host", "--label", LABEL, *(options or [])]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        for host_path, container_path in (volumes or {}).items():
            args += ["-v", f"{host_path}:{container_path}"]
        self.id = docker("run", "-d", *args, image, *(command or [])).stdout.strip()

    @classmethod
    def attach(cls, container_id: str) -> Container:
        """A container started by someone else (docker-compose)."""
        container = cls.__new__(cls)
        container.id = container_id
        return container

    def health(self) -> str:
        return inspect(self.id)["State"].get("Health", {}).get("Status", "none")

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.health()) != "healthy":
            state = inspect(self.id)["State"]
            if not state["Running"]:
                raise RuntimeError(f"container exited with {state['ExitCode']}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"container is {status!r} after {timeout}s:\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exit_code(self) -> int:
        return inspect(self.id)["State"]["ExitCode"]

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.id, check=False)

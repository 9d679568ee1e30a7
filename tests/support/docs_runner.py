"""Runs a page's examples as a reader would: each alone (bash -c, python -c) from the checkout against the demo
server, or, for a `session` page, every block in order in one bash process in a folder of its own.

The documented addresses are the defaults (localhost:8000 HTTP, localhost:8001 gRPC, localhost:9090 Prometheus);
the tests' servers listen on free ports, so each documented address is rewritten to the test's in the commands,
and back in what they print. PORT and GRPC_PORT are exported too, so `python -m service` and `make run` in a page
listen where the rewritten commands call.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import ROOT

TIMEOUT_SECONDS = 120.0  # one block: a TensorFlow training or export on a loaded machine stays well under it
SENTINEL = "__example_done__"


@dataclass
class Printed:
    stdout: str
    stderr: str
    status: int


class Addresses:
    """The documented addresses and the test's, in both directions."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports  # documented port -> the test's

    def to_test(self, code: str) -> str:
        for documented, actual in self.ports.items():
            for host in ("localhost", "127.0.0.1"):
                code = code.replace(f"{host}:{documented}", f"127.0.0.1:{actual}")
        return code

    def to_documented(self, printed: str) -> str:
        for documented, actual in self.ports.items():
            printed = printed.replace(f"127.0.0.1:{actual}", f"127.0.0.1:{documented}")
        return printed

    def environment(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "PORT": str(self.ports[8000]),
            "GRPC_PORT": str(self.ports[8001]),
            "NO_MKDOCS_2_WARNING": "1",
        }


def run_alone(kind: str, code: str, addresses: Addresses, cwd: Path = ROOT) -> Printed:
    """One example in a process of its own."""
    command = ["bash", "-c", code] if kind != "python" else [sys.executable, "-c", code]
    done = subprocess.run(
        [command[0], command[1], addresses.to_test(command[2])],
        cwd=cwd,
        env=addresses.environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    return Printed(addresses.to_documented(done.stdout), done.stderr, done.returncode)


class Shell:
    """One bash process that runs a page's blocks in order, like a terminal: variables, the working folder and
    background jobs (`... &`, `kill %1`) carry from one block to the next. Each block's stdout and stderr go to
    files; the shell's own stdout carries only the line that says a block ended, with its status."""

    def __init__(self, folder: Path, addresses: Addresses) -> None:
        self.folder, self.addresses, self.count = folder, addresses, 0
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=folder,
            env=addresses.environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stop() ends the servers a page started too
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def run(self, kind: str, code: str) -> Printed:
        self.count += 1
        stdout, stderr = self.folder / f".block-{self.count}.out", self.folder / f".block-{self.count}.err"
        code = self.addresses.to_test(code)
        if kind == "python":
            script = self.folder / f".block-{self.count}.py"
            script.write_text(code)
            code = f"python {script}"
        self.process.stdin.write(f"{{\n{code}\n}} < /dev/null > {stdout} 2> {stderr}\necho {SENTINEL} $?\n")
        self.process.stdin.flush()
        status = self._wait_for_sentinel()
        return Printed(self.addresses.to_documented(stdout.read_text()), stderr.read_text(), status)

    def _wait_for_sentinel(self) -> int:
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT_SECONDS)
            except queue.Empty:
                raise TimeoutError(f"a block ran for more than {TIMEOUT_SECONDS} s") from None
            if line.startswith(SENTINEL):
                return int(line.split()[1])

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=15)
                return
            except subprocess.TimeoutExpired:
                continue

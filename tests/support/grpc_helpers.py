"""What the gRPC tests share: clients on a real server's gRPC port, and the README's gRPC examples.

The test process uses tritonclient's own generated messages (never the server's: both define `inference.*` protobuf
symbols, which cannot be loaded twice in one process), so the server is checked against an independent copy of the
protocol.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.support.server import ROOT, RunningServer

README = (ROOT / "README.md").read_text()


def grpc_client(server: RunningServer, **options: object) -> Iterator[triton.InferenceServerClient]:
    """For fixtures: `yield from grpc_client(server)`, closed after."""
    client = triton.InferenceServerClient(server.grpc_target, **options)
    yield client
    client.close()


def status_of(call, *args: object, **kwargs: object) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and message a tritonclient call fails with (the call must fail)."""
    with pytest.raises(InferenceServerException) as failure:
        call(*args, **kwargs)
    status = failure.value.status()
    return getattr(grpc.StatusCode, status.removeprefix("StatusCode.")), failure.value.message()


def readme_grpc_examples() -> list[tuple[str, str]]:
    """The python blocks of the README's gRPC section, each with the output its last comment line shows."""
    section = README.split("### Over gRPC", 1)[1].split("\n### ", 1)[0]
    examples = []
    for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL):
        code, _, shown = block.rstrip().rpartition("\n# ")
        examples.append((code, shown))
    return examples


def run_example(code: str, server: RunningServer) -> str:
    """The example as written, pointed at the test server instead of localhost:8001, from the repository root."""
    assert "localhost:8001" in code
    code = code.replace("localhost:8001", server.grpc_target)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()

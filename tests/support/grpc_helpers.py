"""What the gRPC tests share: clients on a real server's gRPC port (the docs' gRPC examples are run by the docs'
example collector).

The test process uses tritonclient's own generated messages (never the server's: both define `inference.*` protobuf
symbols, which cannot be loaded twice in one process), so the server is checked against an independent copy of the
protocol.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.support.server import RunningServer


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

"""gRPC beside HTTP: Open Inference Protocol v2 (`protocols/v2/grpc.py`) and the standard `grpc.health.v1` service
on GRPC_PORT, in the same process and on the same event loop as uvicorn (grpc.aio), over the same data plane, batcher,
metrics and API keys.

Around every v2 call, once: the request record (request id from `x-request-id` metadata, sent back in the trailing
metadata), the API key (`authorization: Bearer <key>` metadata; ServerLive, ServerReady and health stay open, as
/v2/health/* does over HTTP), the one error mapping (`protocols/errors.py`), the request metrics with
protocol="grpc", and the same failure log line as HTTP requests. Messages over MAX_BODY_BYTES are refused by the
server's receive limit (RESOURCE_EXHAUSTED) before they are read.

With several workers each worker binds GRPC_PORT with SO_REUSEPORT and the kernel spreads connections over them.
This module is imported only when gRPC is on: its generated messages define `inference.*` protobuf symbols, which
cannot share a process with another copy of them (such as tritonclient's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ..core.dataplane import DataPlane
from ..core.errors import InvalidInput, ServiceError
from ..http.api_keys import bearer_refusal
from ..protocols.errors import grpc_status
from ..protocols.v2.grpc import SERVICE_NAME, InferenceServicer
from ..protocols.v2.messages import grpc_service_pb2 as pb
from ..telemetry.access_log import log_request
from ..telemetry.metrics import GRPC, observe_request
from ..telemetry.request_record import REQUEST_ID_HEADER, RequestRecord, current_request, request_id_from

log = logging.getLogger("service.grpc")

OPEN_RPCS = frozenset({"ServerLive", "ServerReady"})  # probes, as /v2/health/* over HTTP: no key, no metrics
HEALTH_REFRESH_SECONDS = 1.0  # how soon a Watch on grpc.health.v1 hears of a readiness change
Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


@dataclass(frozen=True)
class GrpcConfig:
    """What the gRPC server needs, handed in where the app is assembled."""

    host: str
    port: int
    max_message_bytes: int  # MAX_BODY_BYTES: larger messages get RESOURCE_EXHAUSTED before they are read
    grace_seconds: float  # SHUTDOWN_GRACE_SECONDS
    api_keys: list[str]
    access_log: bool


class GrpcServer:
    def __init__(self, plane: DataPlane, config: GrpcConfig, server_name: str, server_version: str) -> None:
        self.grace_seconds = config.grace_seconds
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.so_reuseport", 1),  # one listening socket per worker process, on the same port
            ]
        )
        servicer = InferenceServicer(plane, server_name, server_version)
        keys = [key.encode() for key in config.api_keys]
        handlers = {}
        for method in pb.DESCRIPTOR.services_by_name[SERVICE_NAME.rpartition(".")[2]].methods:
            request_type = getattr(pb, method.input_type.name)
            call = _guarded(getattr(servicer, method.name), method.name, request_type, keys, config.access_log)
            # No deserializer: the guard parses the bytes, so a malformed message is the client's INVALID_ARGUMENT
            # (gRPC's own parsing would answer UNKNOWN and log a traceback).
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(call, response_serializer=_serialize)
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        self.health = ReadinessHealth(plane)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        address = f"{config.host}:{config.port}"
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            raise SystemExit(f"gRPC cannot listen on {address} (GRPC_PORT): {exc}") from None
        self._refresher: asyncio.Task | None = None
        self._stopping: asyncio.Task | None = None

    async def start(self) -> None:
        await self._server.start()
        await self.health.refresh()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_health())
        log.info("gRPC (Open Inference Protocol v2, grpc.health.v1) on port %d", self.port)

    def begin_stop(self) -> None:
        """Stop taking new calls now; calls in flight get SHUTDOWN_GRACE_SECONDS to finish, then are cancelled."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def stop(self) -> None:
        self.begin_stop()
        await self._stopping

    async def _stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        await self._server.stop(self.grace_seconds)
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    async def _refresh_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_REFRESH_SECONDS)
            await self.health.refresh()


class ReadinessHealth(health.aio.HealthServicer):
    """grpc.health.v1 whose status is the data plane's readiness, for the server ("") and the v2 service alike:
    SERVING when /v2/health/ready would answer 200. Check reads it at the time of the call."""

    def __init__(self, plane: DataPlane) -> None:
        super().__init__()
        self._plane = plane
        self._status: int | None = None

    async def refresh(self) -> None:
        ready = self._plane.ready().ready
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        if status != self._status:
            self._status = status
            for service in ("", SERVICE_NAME):
                await self.set(service, status)

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> Any:
        await self.refresh()
        return await super().Check(request, context)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _guarded(method: Handler, rpc: str, request_type: type[Message], keys: list[bytes], access: bool) -> Handler:
    path = f"/{SERVICE_NAME}/{rpc}"
    needs_key = bool(keys) and rpc not in OPEN_RPCS
    quiet = rpc in OPEN_RPCS

    async def call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        given_id = metadata.get("x-request-id", "")
        record = RequestRecord(request_id_from([(REQUEST_ID_HEADER, given_id.encode())] if given_id else []))
        token = current_request.set(record)
        context.set_trailing_metadata((("x-request-id", record.request_id),))
        status, message = grpc.StatusCode.OK, ""
        try:
            refusal = bearer_refusal(keys, metadata.get("authorization", "").encode()) if needs_key else None
            if refusal is None:
                return await method(_parse(request_type, raw), context)
            status, message = grpc.StatusCode.UNAUTHENTICATED, refusal.replace("header", "metadata")
        except ServiceError as exc:
            status, message = grpc_status(exc), str(exc)
        except asyncio.CancelledError:  # the client left or its deadline passed: nobody reads an answer
            remaining = context.time_remaining()
            passed = remaining is not None and remaining <= 0
            status = grpc.StatusCode.DEADLINE_EXCEEDED if passed else grpc.StatusCode.CANCELLED
            raise
        except Exception:
            log.exception("unexpected error in %s", path)
            status = grpc.StatusCode.INTERNAL
            message = f"internal error; the server log has the details (search it for request id {record.request_id})"
        finally:
            record.error = message
            if not quiet:
                _finish(record, path, status, access)
            current_request.reset(token)
        await context.abort(status, message)

    return call


def _parse(request_type: type[Message], raw: bytes) -> Message:
    try:
        return request_type.FromString(raw)
    except DecodeError:
        raise InvalidInput(f"the request is not a valid {request_type.DESCRIPTOR.full_name} message") from None


def _finish(record: RequestRecord, path: str, status: grpc.StatusCode, access: bool) -> None:
    seconds = time.perf_counter() - record.started
    observe_request(record, GRPC, status.name, seconds)
    failed = status not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED)
    if failed or access:
        log_request(record, "POST", path, GRPC, status.name, seconds, failed=failed)

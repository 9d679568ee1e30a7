"""Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`), with Triton's model configuration,
statistics and model repository extensions: each call decodes its message, asks the data plane, encodes the answer.

Errors are raised as the core's typed errors; `service/grpc_server.py` maps them to gRPC status codes (once, with
`protocols/errors.py`), checks API keys and records metrics around every call. Tensors are v2_grpc_codec's; the
metadata, configuration and statistics documents are the ones REST sends (documents.py).
"""

from __future__ import annotations

import time

import grpc
from google.protobuf import json_format

from ...core.dataplane import DataPlane
from ...core.errors import InvalidInput
from ...core.types import READY, InferenceRequest
from ..model_version import parse_version
from . import documents
from .grpc_codec import (
    decode_inputs,
    encode_response,
    request_threshold,
    request_timeout_ms,
    requested_outputs,
)
from .messages import grpc_service_pb2 as pb
from .messages import grpc_service_pb2_grpc as pb_grpc

SERVICE_NAME = "inference.GRPCInferenceService"
_UNLOAD_PARAMETERS = {"unload_dependents"}  # accepted for Triton clients; there are no dependent models here


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, plane: DataPlane, server_name: str, server_version: str) -> None:
        self.plane = plane
        self.server_name = server_name
        self.server_version = server_version

    # -- health and metadata ---------------------------------------------------------------------------

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.plane.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.ready().ready)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name, _version(request.version)))

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name=self.server_name, version=self.server_version, extensions=documents.MODEL_EXTENSIONS
        )

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        document = documents.model_metadata(self.plane.lookup(request.name, _version(request.version)))
        # Labels and thresholds: REST's `parameters` are KServe's gRPC `properties` (Triton has no such field).
        document["properties"] = document.pop("parameters")
        return json_format.ParseDict(document, pb.ModelMetadataResponse())

    async def ModelConfig(
        self, request: pb.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelConfigResponse:
        model = self.plane.lookup(request.name, _version(request.version))
        return json_format.ParseDict(
            {"config": documents.model_config(model, self.plane.batching())}, pb.ModelConfigResponse()
        )

    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatisticsResponse:
        if request.version and not request.name:
            raise InvalidInput("a statistics request with a version needs the model's name")
        counters = self.plane.version_statistics(request.name or None, _version(request.version))
        document = {"model_stats": [documents.model_statistics(c) for c in counters]}
        return json_format.ParseDict(document, pb.ModelStatisticsResponse())

    # -- inference -------------------------------------------------------------------------------------

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        arrived_at = time.monotonic()
        served = self.plane.lookup(request.model_name, _version(request.model_version))
        arrays = decode_inputs(request, served.input_dtypes)
        outputs = requested_outputs(request, documents.OUTPUTS)
        core_request = InferenceRequest(
            inputs=arrays,
            threshold=request_threshold(request),
            arrived_at=arrived_at,
            timeout_ms=_timeout_ms(context, request),
        )
        result = await self.plane.infer(served, core_request)
        response = pb.ModelInferResponse(
            model_name=result.model_name, model_version=str(result.model_version), id=request.id
        )
        tensors = {name: documents.output_tensor(result, name) for name in outputs}
        return encode_response(response, tensors, outputs, raw=bool(request.raw_input_contents))

    # -- repository ------------------------------------------------------------------------------------

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryIndexResponse:
        _check_repository_name(request.repository_name)
        response = pb.RepositoryIndexResponse()
        for entry in await self.plane.repository_index():
            if request.ready and entry.state != READY:
                continue
            response.models.add(
                name=entry.name,
                version="" if entry.version is None else str(entry.version),
                state="READY" if entry.state == READY else "UNAVAILABLE",
                reason=entry.reason,
            )
        return response

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelLoadResponse:
        _check_repository_name(request.repository_name)
        _check_parameters(request.parameters, set())
        await self.plane.load(request.model_name)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelUnloadResponse:
        _check_repository_name(request.repository_name)
        _check_parameters(request.parameters, _UNLOAD_PARAMETERS)
        await self.plane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()


def _version(text: str) -> int | None:
    """A model version from a message ("" = the one served)."""
    return parse_version(text) if text else None


def _timeout_ms(context: grpc.aio.ServicerContext, request: pb.ModelInferRequest) -> float | None:
    """The client's gRPC deadline, or Triton's `timeout` parameter, whichever is sooner."""
    limits = [request_timeout_ms(request)]
    remaining = context.time_remaining()
    if remaining is not None:
        limits.append(max(remaining, 0.0) * 1000.0)
    limits = [ms for ms in limits if ms is not None]
    return min(limits) if limits else None


def _check_repository_name(name: str) -> None:
    if name:
        raise InvalidInput(f"unknown repository {name!r}: this server has one model repository; leave it empty")


def _check_parameters(parameters: object, accepted: set[str]) -> None:
    unsupported = sorted(set(parameters) - accepted)  # type: ignore[arg-type]
    if unsupported:
        raise InvalidInput(f"unsupported parameter(s) {unsupported}; accepted: {sorted(accepted) or 'none'}")

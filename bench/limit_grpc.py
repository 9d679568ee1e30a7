"""The Python limit for gRPC: a bare ModelInfer that decodes the request, runs ONNX Runtime and encodes the answer.

Started by bench/limit_app.py inside the uvicorn process when LIMIT_GRPC_PORT is set. Three servers, to measure what
grpc's Python design allows: `aio` (grpc.aio on the running event loop, as this service serves gRPC), `sync`
(grpc's classic server, handlers on a thread pool) and `sync-loop` (the classic server whose handler hands each call
to the event loop and waits for it there: what this service would pay on the sync server, its data plane and batcher
being the event loop's). And `grpclib`: a pure-Python gRPC server (grpclib, HTTP/2 by h2) on the event loop itself,
with none of grpc's C-core threads: what a gRPC server without them would cost. All take the message as bytes and
parse it themselves, as the service's guard does (service/server/grpc_server.py), with the raw tensor bytes read
with np.frombuffer (no copy).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort

from service.protocols.v2.messages import grpc_service_pb2 as pb

SERVICE = "inference.GRPCInferenceService"
SYNC_THREADS = 4  # grpc's sync server serves one call per thread; ORT and protobuf release the GIL only in part


def infer(session: ort.InferenceSession, raw: bytes) -> bytes:
    request = pb.ModelInferRequest.FromString(raw)
    tensor = request.inputs[0]
    rows = np.frombuffer(request.raw_input_contents[0], dtype="<f4").reshape(tuple(tensor.shape))
    probabilities = session.run(["probabilities"], {tensor.name: rows})[0]
    response = pb.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id)
    response.outputs.add(name="probabilities", datatype="FP32", shape=probabilities.shape)
    response.raw_output_contents.append(probabilities.tobytes())
    return response.SerializeToString()


class _Stopper:
    def __init__(self, server: Any) -> None:
        self.server = server

    async def stop(self) -> None:
        if not isinstance(self.server, grpc.Server | grpc.aio.Server):  # grpclib's
            self.server.close()
            await self.server.wait_closed()
            return
        stopped = self.server.stop(0)
        if isinstance(self.server, grpc.aio.Server):
            await stopped


async def _start_grpclib(session: ort.InferenceSession, port: int) -> _Stopper:
    from grpclib.const import Cardinality, Handler
    from grpclib.encoding.base import CodecBase
    from grpclib.server import Server

    class RawCodec(CodecBase):
        __content_subtype__ = "proto"

        def encode(self, message: bytes, message_type: Any) -> bytes:
            return message

        def decode(self, data: bytes, message_type: Any) -> bytes:
            return data

    class Servicer:
        async def model_infer(self, stream: Any) -> None:
            await stream.send_message(infer(session, await stream.recv_message()))

        def __mapping__(self) -> dict[str, Handler]:
            path = f"/{SERVICE}/ModelInfer"
            return {path: Handler(self.model_infer, Cardinality.UNARY_UNARY, bytes, bytes)}

    server = Server([Servicer()], codec=RawCodec())
    await server.start("127.0.0.1", port)
    return _Stopper(server)


def _no_serialization(message: bytes) -> bytes:
    return message


async def start(session: ort.InferenceSession, port: int, kind: str) -> _Stopper:
    """A server for ModelInfer on 127.0.0.1:port; `kind` is "aio", "sync", "sync-loop" or "grpclib"."""
    if kind == "grpclib":
        return await _start_grpclib(session, port)
    if kind == "aio":

        async def model_infer(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return infer(session, raw)

        server: grpc.Server | grpc.aio.Server = grpc.aio.server()
    elif kind == "sync":

        def model_infer(raw: bytes, context: grpc.ServicerContext) -> bytes:  # type: ignore[misc]
            return infer(session, raw)

        server = grpc.server(ThreadPoolExecutor(max_workers=SYNC_THREADS))
    elif kind == "sync-loop":
        loop = asyncio.get_running_loop()

        async def on_the_loop(raw: bytes) -> bytes:
            return infer(session, raw)

        def model_infer(raw: bytes, context: grpc.ServicerContext) -> bytes:  # type: ignore[misc]
            return asyncio.run_coroutine_threadsafe(on_the_loop(raw), loop).result()

        server = grpc.server(ThreadPoolExecutor(max_workers=SYNC_THREADS))
    else:
        raise SystemExit(f"LIMIT_GRPC={kind!r}: expected aio, sync, sync-loop or grpclib")
    handler = grpc.unary_unary_rpc_method_handler(model_infer, response_serializer=_no_serialization)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"ModelInfer": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    started = server.start()
    if kind == "aio":
        await started
    return _Stopper(server)

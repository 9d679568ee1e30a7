"""The Python limit: the least a Python server can do per request, as a bare ASGI callable on one uvicorn process.

`LIMIT_MODEL=model.onnx python -m uvicorn --loop uvloop --http httptools --no-access-log bench.limit_app:app`

Per request it reads the body, parses it with orjson (native JSON) or splits the JSON header from the raw tensor
bytes (the v2 binary tensor extension), makes the numpy array, calls ONNX Runtime inline and answers with
orjson.dumps (JSON, or JSON header + raw float32 bytes). No validation, no batching, no metrics, no request id, no
deadline, no error handling worth the name: only what every request must pay. The bench's "Python limit" rows, and
what this service's rows are ratios of.

With LIMIT_GRPC_PORT set, the same process also serves ModelInfer (bench/limit_grpc.py) on that port, as this
service serves gRPC beside HTTP: grpc.aio on uvicorn's event loop (LIMIT_GRPC=aio, the default) or grpc's sync
server on a thread pool (LIMIT_GRPC=sync).
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import orjson

JSON_HEADERS = [(b"content-type", b"application/json")]
READY = b'{"status":"ready"}'


def make_session(path: str) -> ort.InferenceSession:
    """One intra-op thread, as the service runs by default (ORT_INTRA_OP_THREADS=1)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class LimitApp:
    def __init__(self, model_path: str) -> None:
        self.session = make_session(model_path)
        self.input_name = self.session.get_inputs()[0].name
        self.grpc = None

    async def __call__(self, scope: dict, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST":
            await _answer(send, READY, JSON_HEADERS)  # /health/ready and /metrics (no metrics: an empty document)
            return
        header_length = None
        for name, value in scope["headers"]:
            if name == b"inference-header-content-length":
                header_length = int(value)
        if header_length is None:
            rows = np.asarray(orjson.loads(body)["instances"], dtype=np.float32)
            probabilities = self.session.run(["probabilities"], {self.input_name: rows})[0]
            await _answer(send, orjson.dumps({"probabilities": probabilities.tolist()}), JSON_HEADERS)
            return
        header = orjson.loads(body[:header_length])
        tensor = header["inputs"][0]
        rows = np.frombuffer(body, dtype="<f4", offset=header_length).reshape(tensor["shape"])
        probabilities = self.session.run(["probabilities"], {self.input_name: rows})[0]
        data = probabilities.tobytes()
        answer = orjson.dumps(
            {
                "model_name": scope["path"].split("/")[3],
                "outputs": [
                    {
                        "name": "probabilities",
                        "datatype": "FP32",
                        "shape": probabilities.shape,
                        "parameters": {"binary_data_size": len(data)},
                    }
                ],
            }
        )
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", str(len(answer)).encode()),
        ]
        await _answer(send, answer + data, headers)

    async def _lifespan(self, receive, send) -> None:  # noqa: ANN001 - ASGI
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                port = int(os.environ.get("LIMIT_GRPC_PORT", "0"))
                if port:
                    from .limit_grpc import start

                    self.grpc = await start(self.session, port, os.environ.get("LIMIT_GRPC", "aio"))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.grpc is not None:
                    await self.grpc.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:  # noqa: ANN001 - ASGI
    start_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


app = LimitApp(os.environ["LIMIT_MODEL"]) if "LIMIT_MODEL" in os.environ else None

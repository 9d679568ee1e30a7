"""A flood beyond capacity: the bounded queue sheds load early with 503 + Retry-After, memory stays
bounded, liveness keeps answering, and the server recovers by itself when the flood stops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.support.onnx_models import OPSET
from tests.support.server import RunningServer

WIDTH = 1024
LAYERS = 8
CONCURRENT = 300
ROWS_PER_REQUEST = 4


def heavy_model(path: Path, labels: tuple[str, ...] = ("p", "q", "r")) -> None:
    """LAYERS dense tanh layers of WIDTH x WIDTH, then the exporter's logits + Sigmoid: tens of ms per batch."""
    rng = np.random.default_rng(0)
    nodes, weights, current = [], [], "features"
    for i in range(LAYERS):
        weights.append(
            numpy_helper.from_array((rng.normal(size=(WIDTH, WIDTH)) / WIDTH**0.5).astype(np.float32), f"W{i}")
        )
        nodes += [
            helper.make_node("MatMul", [current, f"W{i}"], [f"m{i}"]),
            helper.make_node("Tanh", [f"m{i}"], [f"h{i}"]),
        ]
        current = f"h{i}"
    weights.append(numpy_helper.from_array(rng.normal(size=(WIDTH, len(labels))).astype(np.float32), "Wout"))
    nodes += [
        helper.make_node("MatMul", [current, "Wout"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "heavy",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", WIDTH])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)]),
        ],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.metadata_props.append(onnx.StringStringEntryProto(key="labels", value='["p", "q", "r"]'))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def http_request(port: int, method: str, path: str, body: bytes = b"") -> Answer:
    """One HTTP/1.1 exchange on its own connection. (httpx's pool slows down with hundreds of connections.)"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if line)
        payload = await reader.readexactly(int(headers["content-length"]))
        return Answer(int(status_line.split()[1]), headers, payload)
    finally:
        writer.close()


async def flood(port: int, body: bytes) -> tuple[list[Answer | BaseException], list[int]]:
    """CONCURRENT predictions at once, with liveness probes sent while they are in flight."""
    predictions = [asyncio.create_task(http_request(port, "POST", "/predict", body)) for _ in range(CONCURRENT)]
    live = []
    while not all(task.done() for task in predictions) or not live:
        live.append((await http_request(port, "GET", "/health/live")).status)
        await asyncio.sleep(0.005)
    return await asyncio.gather(*predictions, return_exceptions=True), live


def test_flood_is_shed_early_and_the_server_recovers(tmp_path: Path) -> None:
    heavy_model(tmp_path / "heavy" / "1" / "model.onnx")
    server = RunningServer(
        {
            "MODEL_REPOSITORY": str(tmp_path),
            "MAX_BATCH_SIZE": "8",
            "MAX_QUEUE_ROWS": "16",
            "MAX_BODY_BYTES": str(1024 * 1024),
        }
    )
    try:
        rows = np.round(np.random.default_rng(1).normal(size=(ROWS_PER_REQUEST, WIDTH)), 2)
        body = b'{"instances": ' + str(rows.tolist()).encode() + b"}"
        assert (
            httpx.post(f"{server.url}/predict", content=body, headers={"content-type": "application/json"}).status_code
            == 200
        )
        rss_before = rss_bytes(server.process.pid)

        for _ in range(2):  # a second flood shows the first left nothing behind
            responses, live = asyncio.run(flood(server.port, body))
            errors = [r for r in responses if isinstance(r, BaseException)]
            assert not errors, errors[:3]
            statuses = [r.status for r in responses]
            shed = [r for r in responses if r.status == 503]
            assert set(statuses) <= {200, 503}, sorted(set(statuses))
            assert shed and statuses.count(200) > 0, (statuses.count(200), len(shed))
            assert all(r.headers.get("retry-after") == "1" and b"MAX_QUEUE_ROWS" in r.body for r in shed)
            assert live and set(live) == {200}

        growth = rss_bytes(server.process.pid) - rss_before
        assert growth < 100 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB"
        after = httpx.post(f"{server.url}/predict", content=body, headers={"content-type": "application/json"})
        assert after.status_code == 200 and len(after.json()["predictions"]) == ROWS_PER_REQUEST
        assert httpx.get(f"{server.url}/health/ready").status_code == 200
        print(f"served {statuses.count(200)}, shed {len(shed)} of {CONCURRENT}; RSS growth {growth / 2**20:.1f} MiB")
    finally:
        server.stop()

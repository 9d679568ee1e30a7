"""CPU time per request of the app's own code path, in-process, without sockets or uvicorn's HTTP parser.

`python -m bench.asgi_cost REPOSITORY BODY [--requests N] [--concurrency C] [--path P] [--header-length L]`:
drives the ASGI app directly with C concurrent requests, reports process CPU µs per request. Steadier than wrk on a
busy machine, so it is what code changes are compared with; the wrk bench remains the end-to-end truth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


async def drive(  # noqa: PLR0913
    app,  # noqa: ANN001
    body: bytes,
    requests: int,
    concurrency: int,
    path: str,
    header_length: int | None,
    extra_headers: list[tuple[bytes, bytes]] = (),
    warm_up: bool = True,
    scope_extra: dict | None = None,
) -> float:
    content_type = b"application/json" if header_length is None else b"application/octet-stream"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra_headers]
    if header_length is not None:
        headers.append((b"inference-header-content-length", str(header_length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": "", "state": {}}  # fmt: skip
    scope.update(scope_extra or {})
    statuses = []

    async def one() -> None:
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(dict(scope), receive, send)

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    if warm_up:
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    started = time.process_time()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    used = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return used / (requests // concurrency * concurrency) * 1e6


async def main(
    repository: Path,
    body: bytes,
    requests: int,
    concurrency: int,
    path: str = "/predict",
    header_length: int | None = None,
) -> float:
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(model_repository=repository))
    registry = app.state.service.plane.registry
    await registry.load_all()
    try:
        return await drive(app, body, requests, concurrency, path, header_length)
    finally:
        await registry.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("repository", type=Path)
    parser.add_argument("body", type=Path)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--header-length", type=int, default=None, help="v2 binary: Inference-Header-Content-Length")
    args = parser.parse_args()
    body = args.body.read_bytes()
    cost = asyncio.run(main(args.repository, body, args.requests, args.concurrency, args.path, args.header_length))
    print(json.dumps({"cpu_us_per_request": round(cost, 1)}))

"""The modules of ours a native predict passes through, measured on a real request, and kept equal to the list in
docs/development/architecture.md ("The modules a native predict passes through"), at most 6 (issue 21).

The app is built as `python -m service` builds it (`create_app` with its settings, the demo models, uvicorn's
config with the service's own HTTP protocol) and one request's bytes are fed to that protocol in-process, on a
stand-in for the socket. `sys.setprofile` (and `threading.setprofile`, for a model's own thread) watches it.

The rule. A module *passes the request through* when one of its functions is on the chain that hands the request
on, at one of the three moments of its way:
- its bytes come in: the stack when uvicorn starts the request's task (`RequestResponseCycle.run_asgi`);
- its rows go into ONNX Runtime: the stack of `InferenceSession.run`, joined to the chains of coroutines the event
  loop's tasks are suspended in (the request's own task waits there on the batcher: asyncio keeps that chain off the
  stack);
- its answer's bytes leave: the stack when they are written to the socket.
What a module of the chain calls and gets back from before it hands the request on (parse the JSON, validate the
inputs, read the body, encode the answer) is that module's work done with a helper, not a step the request passes
through; neither are the observers told of it (metrics, statistics, the request record). Every other module of
ours called while handling the request must be named in `ASIDE` with the reason, so none joins the way unnoticed.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import re
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from service.app import create_app
from service.server.http_protocol import ClientLimits, ServiceHttpProtocol
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "development" / "architecture.md"
DOC_HEADING = "### The modules a native predict passes through"
MOST_MODULES = 6
REQUEST_TASK = "RequestResponseCycle.run_asgi"  # uvicorn's coroutine of one request

# Called while the request is handled, and not on its way, with the reason.
HELPER = "a helper: called by a module on the way, returns before the request moves on"
OBSERVER = "an observer: told of the request or its batch, hands nothing back"
ASIDE = {
    "service.app": "the batch observers assembled in create_app, told in turn: " + OBSERVER,
    "service.contract.model_file": "an input's row shape, asked by the input checks: " + HELPER,
    "service.contract.repository": "the model name's check, asked by the registry lookup: " + HELPER,
    "service.core.batch_cost": "a batch's predicted cost, so the batcher runs it inline or on the model's thread: "
    + HELPER,
    "service.core.deadline": "the request's deadline, worked out by the data plane: " + HELPER,
    "service.core.deadline_watch": "the shared timer that cancels a request past its deadline: " + HELPER,
    "service.core.inputs": "the rows checked and cast into arrays, for the data plane: " + HELPER,
    "service.core.registry": "the served version looked up, for the data plane: " + HELPER,
    "service.core.statistics": "Triton's per-version counters: " + OBSERVER,
    "service.core.types": "the request and result values (the multi-hot worked out when asked): " + HELPER,
    "service.protocols.http_adapter": "the HTTP call the adapter reads (headers, bounded body, deadline header) and "
    "the answer it returns: " + HELPER,
    "service.protocols.json_body": "JSON parsed and written, for the adapter: " + HELPER,
    "service.telemetry.label_metrics": "per-label counts of the answers: " + OBSERVER,
    "service.telemetry.metrics": "request and batch metrics: " + OBSERVER,
    "service.telemetry.request_record": "the request's id and model, for the log and the metrics: " + OBSERVER,
    "service.telemetry.tally": "the metrics' increments, written at the end of the loop step: " + OBSERVER,
}


def documented_path() -> list[str]:
    """`service/...py` of each line of the list under DOC_HEADING, as module names, in the order written."""
    text = DOC.read_text()
    assert DOC_HEADING in text, f"{DOC} has no section {DOC_HEADING!r}"
    section = text.split(DOC_HEADING, 1)[1].split("\n#", 1)[0]
    files = re.findall(r"^- `(service/[\w/]+)\.py`", section, flags=re.MULTILINE)
    return [file.replace("/", ".") for file in files]


def ours(frame: FrameType | None) -> list[str]:
    """The service modules of a stack, outermost first, each once."""
    modules: list[str] = []
    while frame is not None:
        modules.append(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    return _service_modules(reversed(modules))


def _service_modules(names: Any) -> list[str]:
    return list(dict.fromkeys(name for name in names if name.startswith("service.")))


def _is_request(task: asyncio.Task) -> bool:
    return getattr(task.get_coro(), "__qualname__", "") == REQUEST_TASK


def suspended_chain(task: asyncio.Task) -> list[str]:
    """The modules of the coroutines a task waits in, outermost first: the stack asyncio keeps off the stack."""
    modules = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            modules.append(frame.f_globals.get("__name__", ""))
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return _service_modules(modules)


class Watch:
    """What `sys.setprofile` sees of one request: every module of ours called, and the chains of the three moments."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.recording = False
        self.called: set[str] = set()
        self.bytes_in: list[str] = []
        self.to_onnx_runtime: list[str] = []
        self.bytes_out: list[str] = []

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if not self.recording or event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_name
        if module.startswith("service."):
            self.called.add(module)
        elif module == "asyncio.base_events" and name == "create_task":
            coroutine = frame.f_locals.get("coro")
            if getattr(coroutine, "__qualname__", "") == REQUEST_TASK:
                self.bytes_in = _service_modules([*self.bytes_in, *ours(frame)])
        elif module.startswith("onnxruntime") and name == "run":
            # The request's own task first (it waits on the batcher), then any other (a batcher waiting on its
            # model's thread), then the stack of the call itself.
            tasks = sorted(asyncio.all_tasks(self.loop), key=lambda task: not _is_request(task))
            waiting = [module for task in tasks for module in suspended_chain(task)]
            self.to_onnx_runtime = _service_modules([*self.to_onnx_runtime, *waiting, *ours(frame)])

    def path(self) -> list[str]:
        return _service_modules([*self.bytes_in, *self.to_onnx_runtime, *self.bytes_out])


class Socket(asyncio.Transport):
    """The connection's socket: keeps what is written, and the stack that wrote it."""

    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch
        self.written = bytearray()
        self.answered = asyncio.Event()
        self.closing = False

    def write(self, data: bytes) -> None:
        if self.watch.recording:
            self.watch.bytes_out = _service_modules([*self.watch.bytes_out, *ours(sys._getframe(1))])
        self.written += data
        if b"\r\n\r\n" in self.written:
            self.answered.set()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 0


async def one_request(path: str) -> tuple[Watch, bytes]:
    """The service's app behind the service's HTTP protocol; one request to warm up, then the one watched."""
    loop = asyncio.get_running_loop()
    watch = Watch(loop)
    threading.setprofile(watch)  # the model's own thread, when a batch runs there, is started after this
    settings = Settings(model_repository=ROOT / "models", default_model="digits", model_poll_seconds=0)
    app = create_app(settings)
    registry = app.state.adapters.plane.registry
    await registry.load_all()
    # As service/server/process.py configures uvicorn, for what touches a request.
    config = uvicorn.Config(
        app,
        access_log=False,
        log_config=None,
        http=functools.partial(ServiceHttpProtocol, limits=ClientLimits()),
        limit_concurrency=settings.max_connections,
    )
    config.load()
    state = ServerState()
    body = b'{"instances": [[%s]]}' % b", ".join([b"1.0"] * 64)
    head = b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    raw = head % (path.encode(), len(body)) + body
    try:
        for watched in (False, True):
            protocol = ServiceHttpProtocol(config=config, server_state=state, app_state={}, _loop=loop)
            socket = Socket(watch)
            protocol.connection_made(socket)
            watch.recording = watched
            sys.setprofile(watch)
            protocol.data_received(raw)
            await asyncio.wait_for(socket.answered.wait(), 30)
            await asyncio.sleep(0)  # the rest of the answer (a write held to the end of the loop step)
            sys.setprofile(None)
            watch.recording = False
            protocol.connection_lost(None)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
        await registry.close()
    return watch, bytes(socket.written)


@pytest.fixture(scope="module", params=["/models/digits/predict", "/predict"])
def watched(request: pytest.FixtureRequest) -> tuple[Watch, bytes]:
    return asyncio.run(one_request(request.param))


def test_the_request_was_answered(watched: tuple[Watch, bytes]) -> None:
    _, answer = watched
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b'"model_name":"digits"' in answer


def test_the_path_is_the_one_documented_and_at_most_six_modules(watched: tuple[Watch, bytes]) -> None:
    watch, _ = watched
    assert watch.bytes_in and watch.to_onnx_runtime and watch.bytes_out, "a moment of the request was not seen"
    assert watch.path() == documented_path(), f"update {DOC.name} ({DOC_HEADING}) or the code"
    assert len(watch.path()) <= MOST_MODULES


def test_every_other_module_called_is_set_aside_with_its_reason(watched: tuple[Watch, bytes]) -> None:
    watch, _ = watched
    unexplained = watch.called - set(watch.path()) - set(ASIDE)
    assert not unexplained, f"called while handling the request, neither on its way nor in ASIDE: {unexplained}"
    assert not set(ASIDE) & set(watch.path())


def test_every_module_set_aside_exists() -> None:
    for module in ASIDE:
        importlib.import_module(module)

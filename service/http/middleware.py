"""Pure ASGI middleware around every route: request id, request metrics, access and error log lines, refusal of
compressed request bodies, and the one 500 answer for anything unexpected (with its request id, like every other
answer). Pure ASGI (not BaseHTTPMiddleware) to keep it cheap.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..protocols.errors import CLIENT_CLOSED, error_body, error_message
from ..telemetry.access_log import log_request
from ..telemetry.metrics import observe_request, protocol_of
from ..telemetry.request_record import RequestRecord, current_request, request_id_from

log = logging.getLogger("service.access")

ERROR_BODY_MAX = 4096  # bytes of an error body kept to log its "error" message
# Probes and scrapes: no request metrics and no access line, so they neither skew nor flood them.
QUIET_PREFIXES = ("/health/", "/v2/health/", "/metrics")
STOPPING = "the server is stopping and this request did not finish within SHUTDOWN_GRACE_SECONDS; retry"
INTERNAL_ERROR = "internal error; the server log has the details (search it for the X-Request-ID)"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


async def send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """An error answer straight from a middleware (the app never saw the request)."""
    body = error_body(message)
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _as_routed(scope)
        headers = scope["headers"]
        record = RequestRecord(request_id_from(headers))
        token = current_request.set(record)
        id_header = (b"x-request-id", record.request_id.encode())
        status = 0  # no response started yet
        error_body = bytearray()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif status >= 400 and len(error_body) < ERROR_BODY_MAX:
                error_body.extend(message.get("body", b"")[:ERROR_BODY_MAX])
            await send(message)

        try:
            encoding = _header(headers, b"content-encoding").strip().lower()
            if encoding not in ("", "identity"):
                # A compressed body could expand far past MAX_BODY_BYTES (a gzip bomb): never decode one.
                message = f"Content-Encoding {encoding!r} is not supported; send plain JSON"
                await send_error(send_with_id, 415, message)
            else:
                await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request from outside (a client that hangs up is handled inside): when
            # SHUTDOWN_GRACE_SECONDS ends with the request unanswered. Its own answer would be a plain-text 500.
            record.error = STOPPING
            if status:
                raise
            await send_error(send_with_id, 503, STOPPING, [(b"retry-after", b"1")])
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            if status:
                raise  # the answer has started: nothing left to send but the connection's end
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await send_error(send_with_id, 500, INTERNAL_ERROR)
        finally:
            self._finish(scope, record, status or CLIENT_CLOSED, bytes(error_body))
            current_request.reset(token)

    def _finish(self, scope: Scope, record: RequestRecord, status: int, error_body: bytes) -> None:
        path = scope["path"]
        if path.startswith(QUIET_PREFIXES):
            return
        seconds = time.perf_counter() - record.started
        protocol = protocol_of(path)
        observe_request(record, protocol, status, seconds)
        failed = 400 <= status != CLIENT_CLOSED
        if not failed and not self.access_log:
            return
        error = "" if record.error or not failed else error_message(error_body)
        log_request(record, scope["method"], path, protocol, status, seconds, failed=failed, error=error)


def _as_routed(scope: Scope) -> Scope:
    """HTTP's conventions the router does not follow: a trailing slash names the same resource (a redirect would
    lose a POST's body with many clients), and HEAD is a GET without the body (uvicorn leaves the body out, as it
    keeps the request's own method). A copy: uvicorn's scope keeps what the client sent."""
    path, method = scope["path"], scope["method"]
    if (len(path) <= 1 or not path.endswith("/")) and method != "HEAD":
        return scope
    routed = dict(scope)
    if len(path) > 1 and path.endswith("/"):
        routed["path"] = path.rstrip("/")
        routed["raw_path"] = (scope.get("raw_path") or path.encode()).rstrip(b"/")
    if method == "HEAD":
        routed["method"] = "GET"
    return routed


def add_cors(app, origins: list[str]) -> None:
    """CORS only when CORS_ORIGINS is set: by default browsers on other origins get no access."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )

"""Pure ASGI middleware around every route: request id, request metrics, access and error log lines, refusal of
compressed request bodies, and the one 500 answer for anything unexpected (with its request id, like every other
answer). Pure ASGI (not BaseHTTPMiddleware) to keep it cheap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .observability import observe_request, protocol_of
from .protocols.errors import CLIENT_CLOSED
from .request_record import RequestRecord, current_request

log = logging.getLogger("service.access")

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
REQUEST_ID_MAX = 64
ERROR_BODY_MAX = 4096  # bytes of an error body kept to log its "error" message
CAUSE_MAX = 300  # characters of that message in the log line
# Probes and scrapes: no request metrics and no access line, so they neither skew nor flood them.
QUIET_PREFIXES = ("/health/", "/v2/health/", "/metrics")
STOPPING = {"error": "the server is stopping and this request did not finish within SHUTDOWN_GRACE_SECONDS; retry"}
INTERNAL_ERROR = {"error": "internal error; the server log has the details (search it for the X-Request-ID)"}


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID reduced to safe characters and bounded length, or a new one."""
    for key, value in headers:
        if key == REQUEST_ID_HEADER:
            given = REQUEST_ID_UNSAFE.sub("", value.decode("latin-1"))[:REQUEST_ID_MAX]
            if given:
                return given
    return os.urandom(16).hex()  # as random as uuid4, at a fraction of its cost


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


async def send_json(send: Send, status: int, content: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps(content)
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
        id_header = (REQUEST_ID_HEADER, record.request_id.encode())
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
                await send_json(
                    send_with_id, 415, {"error": f"Content-Encoding {encoding!r} is not supported; send plain JSON"}
                )
            else:
                await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request from outside (a client that hangs up is handled inside): when
            # SHUTDOWN_GRACE_SECONDS ends with the request unanswered. Its own answer would be a plain-text 500.
            record.error = STOPPING["error"]
            if status:
                raise
            await send_json(send_with_id, 503, STOPPING, [(b"retry-after", b"1")])
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            if status:
                raise  # the answer has started: nothing left to send but the connection's end
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await send_json(send_with_id, 500, INTERNAL_ERROR)
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
        fields = {
            "request_id": record.request_id,
            "method": scope["method"],
            "path": path,
            "protocol": protocol,
            "model": record.model or None,
            "version": record.version,
            "rows": record.rows,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
        }
        if failed:
            fields["error"] = (record.error or _error_message(error_body))[:CAUSE_MAX]
            log.warning("request failed", extra={"fields": fields})
        else:
            log.info("request", extra={"fields": fields})


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


def _error_message(body: bytes) -> str:
    """The "error" text of our own JSON error body; the request body is never read here."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    message = document.get("error") if isinstance(document, dict) else None
    return message if isinstance(message, str) else ""


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

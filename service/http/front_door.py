"""The front door: every HTTP request's way in and out, in one place, and the inference POSTs' way to their handler.

`FrontDoor` is the app's one middleware. For each request, in this order:
- HTTP's conventions the router does not follow: a trailing slash names the same resource (a redirect would lose a
  POST's body with many clients), and HEAD is a GET without the body (uvicorn leaves the body out);
- the request record: its id (the caller's X-Request-ID made safe, or a new one), sent back on every answer, and
  the context the log lines read;
- a compressed body is refused (415): one could expand far past MAX_BODY_BYTES (a gzip bomb);
- CORS, when CORS_ORIGINS is set (Starlette's middleware: preflights are answered before keys are checked);
- API keys, when set (`api_keys.py`): 401 without a valid `Authorization: Bearer <key>`, except on open paths;
- the request's arrival (its deadline counts from there), and its cancellation if its client leaves before the
  answer (`request_deadline.py`);
- the lean routes (the inference POSTs of every protocol, `protocols/http_adapter.py`): matched here and their
  handler called with an `HttpCall`, its `Answer` or error written here; every other request goes to FastAPI's
  router, with its error handlers;
- at the end, the request metrics and the access line (always for a failure, for every request with ACCESS_LOG),
  except for probes and scrapes; anything unexpected is one JSON 500 with the request id, and a request still running
  when SHUTDOWN_GRACE_SECONDS ends a JSON 503.

`ServiceApp` is FastAPI, whose __call__ asks OpenTelemetry on every request whether a provider is configured and runs
three middlewares of its own before the front door (ServerErrorMiddleware: a 500 the front door already answers;
ExceptionTelemetryMiddleware; AppBodyLimitMiddleware: max_body_size, unset here, the service bounds bodies itself).
When no provider, no max_body_size and no root_path are set, it calls the front door directly; otherwise (and for
lifespan) it takes FastAPI's way.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import ServiceError
from ..protocols.errors import CLIENT_CLOSED, error_body, error_message
from ..protocols.http_adapter import (
    ARRIVAL,
    Answer,
    HttpAdapterConfig,
    HttpCall,
    LeanRoute,
    client_gone_answer,
    error_answer,
    first_values,
)
from ..telemetry.access_log import log_request
from ..telemetry.metrics import observe_request, protocol_of
from ..telemetry.request_record import RequestRecord, current_request, request_id_from
from .api_keys import bearer_refusal, challenge, is_open
from .request_deadline import CANCELS_ON_DISCONNECT, CLIENT_GONE, HANDLER_TASK, cancel_on_disconnect

log = logging.getLogger("service.access")

ERROR_BODY_MAX = 4096  # bytes of an error body kept to log its "error" message
# Probes and scrapes: no request metrics and no access line, so they neither skew nor flood them.
QUIET_PREFIXES = ("/health/", "/v2/health/", "/metrics")
STOPPING = "the server is stopping and this request did not finish within SHUTDOWN_GRACE_SECONDS; retry"
INTERNAL_ERROR = "internal error; the server log has the details (search it for the X-Request-ID)"
EXCHANGE = "sigmoid_serve.exchange"  # scope key: the request's _Exchange, for the steps behind CORS


class ServiceApp(FastAPI):
    _front: ASGIApp | None = None
    _front_checked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._front if self._front_checked else self._find_front()
        if front is not None and scope["type"] == "http":
            scope["app"] = self
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _find_front(self) -> ASGIApp | None:
        """The outermost user middleware in the built stack, once, when nothing FastAPI runs before it is needed."""
        self._front = None
        needed = self.root_path or getattr(self, "max_body_size", None) is not None or self._native_telemetry.enabled()
        if not needed and self.user_middleware:
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            outermost = self.user_middleware[0].cls
            layer = self.middleware_stack
            while layer is not None and not isinstance(layer, outermost):  # type: ignore[arg-type]
                layer = getattr(layer, "app", None)
            self._front = layer
        self._front_checked = True
        return self._front


class _Exchange:
    """One request at the door: its first header values, its record, and what was answered."""

    __slots__ = ("wire_scope", "headers", "record", "id_header", "status", "error_body")

    def __init__(self, wire_scope: Scope, headers: dict[bytes, bytes], record: RequestRecord) -> None:
        self.wire_scope = wire_scope  # the scope the HTTP protocol holds (the routed one may be a copy)
        self.headers, self.record = headers, record
        self.id_header = (b"x-request-id", record.request_id.encode())
        self.status = 0  # no response started yet
        self.error_body = b""

    async def answer(self, send: Send, answer: Answer) -> None:
        body, status = answer.body, answer.status
        self.status = status
        if status >= 400:
            self.error_body = body[:ERROR_BODY_MAX]
        headers = [*answer.headers, (b"content-length", b"%d" % len(body)), (b"content-type", answer.content_type)]
        headers.append(self.id_header)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def noting(self, send: Send) -> Send:
        """`send` for answers written elsewhere (the router's): the request id added, the status and error noted."""
        kept = bytearray()

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                message["headers"] = [*message.get("headers", ()), self.id_header]
            elif self.status >= 400 and len(kept) < ERROR_BODY_MAX:
                kept.extend(message.get("body", b"")[:ERROR_BODY_MAX])
                self.error_body = bytes(kept)
            await send(message)

        return send_noted


def _error(message: str, status: int, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Answer:
    return Answer(error_body(message), status, b"application/json", headers)


class FrontDoor:
    """The app's one middleware (see the module docstring); the router's stack is `app`."""

    def __init__(  # noqa: PLR0913
        self,
        app: ASGIApp,
        adapters: HttpAdapterConfig,
        routes: list[APIRoute],
        api_keys: list[str] = (),  # type: ignore[assignment]
        cors_origins: list[str] = (),  # type: ignore[assignment]
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.adapters = adapters
        self.access_log = access_log
        self._keys = [key.encode() for key in api_keys]
        self._lean = [route for route in routes if isinstance(route, LeanRoute) and route.methods == {"POST"}]
        self._lean_by_path = {route.path: route for route in self._lean if not route.param_convertors}
        self._admit_cors: ASGIApp | None = None
        if cors_origins:  # by default browsers on other origins get no access
            self._admit_cors = CORSMiddleware(
                self._admit_behind_cors,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wire_scope, scope = scope, _as_routed(scope)
        headers = first_values(scope["headers"])
        record = RequestRecord(request_id_from(scope["headers"]))
        token = current_request.set(record)
        exchange = _Exchange(wire_scope, headers, record)
        try:
            encoding = headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
            if encoding not in ("", "identity"):
                message = f"Content-Encoding {encoding!r} is not supported; send plain JSON"
                await exchange.answer(send, _error(message, 415))
            elif self._admit_cors is not None:
                scope[EXCHANGE] = exchange
                await self._admit_cors(scope, receive, send)
            else:
                await self._admit(scope, receive, send, exchange)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request from outside (a client that hangs up is handled inside): when
            # SHUTDOWN_GRACE_SECONDS ends with the request unanswered. Its own answer would be a plain-text 500.
            record.error = STOPPING
            if exchange.status:
                raise
            await exchange.answer(send, _error(STOPPING, 503, ((b"retry-after", b"1"),)))
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            if exchange.status:
                raise  # the answer has started: nothing left to send but the connection's end
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await exchange.answer(send, _error(INTERNAL_ERROR, 500))
        finally:
            self._finish(scope, exchange)
            current_request.reset(token)

    async def _admit_behind_cors(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._admit(scope, receive, send, scope[EXCHANGE])

    async def _admit(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        """API keys, then the request's arrival and its cancellation if the client leaves."""
        if self._keys and not is_open(scope["path"]):
            authorization = exchange.headers.get(b"authorization", b"")
            refusal = bearer_refusal(self._keys, authorization)
            if refusal is not None:
                await exchange.answer(send, _error(refusal, 401, ((b"www-authenticate", challenge(authorization)),)))
                return
        scope[ARRIVAL] = time.monotonic()
        if not scope.get(CANCELS_ON_DISCONNECT):
            await cancel_on_disconnect(_Dispatch(self, exchange), scope, receive, send)
            return
        wire_scope = exchange.wire_scope
        task = wire_scope[HANDLER_TASK] = asyncio.current_task()
        try:
            await self._dispatch(scope, receive, send, exchange)
        except asyncio.CancelledError:
            if not wire_scope.get(CLIENT_GONE):
                raise  # cancelled from outside (shutdown): not ours to swallow
            task.uncancel()  # type: ignore[union-attr]
            log.debug("client hung up before its answer: cancelled %s %s", scope["method"], scope["path"])
        finally:
            wire_scope[HANDLER_TASK] = None

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        """A lean route's POST to its handler; anything else to the router."""
        route = self._lean_route(scope) if scope["method"] == "POST" else None
        if route is None:
            await self.app(scope, receive, exchange.noting(send))
            return
        adapters = self.adapters
        call = HttpCall(scope, receive, exchange.headers, adapters.plane, adapters.max_body_bytes, scope[ARRIVAL])
        try:
            answer = await route.handler(call, **route.arguments(scope["path_params"]))
        except ServiceError as exc:
            answer = error_answer(exc)
        except ClientDisconnect:
            answer = client_gone_answer()
        await exchange.answer(send, answer)

    def _lean_route(self, scope: Scope) -> LeanRoute | None:
        path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        route = self._lean_by_path.get(path)
        if route is not None:
            scope["path_params"] = {}
            return route
        for route in self._lean:
            match = route.path_regex.match(path)
            if match is not None:
                scope["path_params"] = match.groupdict()
                return route
        return None

    def _finish(self, scope: Scope, exchange: _Exchange) -> None:
        path = scope["path"]
        if path.startswith(QUIET_PREFIXES):
            return
        record = exchange.record
        seconds = time.perf_counter() - record.started
        protocol = protocol_of(path)
        status = exchange.status or CLIENT_CLOSED
        observe_request(record, protocol, status, seconds)
        failed = 400 <= status != CLIENT_CLOSED
        if not failed and not self.access_log:
            return
        error = "" if record.error or not failed else error_message(exchange.error_body)
        log_request(record, scope["method"], path, protocol, status, seconds, failed=failed, error=error)


class _Dispatch:
    """The front door's dispatch as an ASGI app, for `cancel_on_disconnect` (servers other than ours)."""

    def __init__(self, door: FrontDoor, exchange: _Exchange) -> None:
        self.door, self.exchange = door, exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.door._dispatch(scope, receive, send, self.exchange)


def _as_routed(scope: Scope) -> Scope:
    """A trailing slash names the same resource, and HEAD is a GET without the body. A copy: uvicorn's scope keeps
    what the client sent."""
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

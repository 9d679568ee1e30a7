"""ASGI middleware: notes each request's arrival (its deadline counts from there), and stops work for clients that
left.

Once the body has been read, it listens for the client hanging up: if that happens before the response starts,
the handler is cancelled, which cancels its batcher submission, so rows nobody will read are never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..protocols.http_adapter import ARRIVAL

log = logging.getLogger(__name__)


class RequestDeadlineMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[ARRIVAL] = time.monotonic()
        await _CancelOnDisconnect(self.app, scope, receive, send).run()


class _CancelOnDisconnect:
    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app, self.scope, self.receive, self.send = app, scope, receive, send
        self.handler: asyncio.Task | None = None
        self.listener: asyncio.Task | None = None
        self.response_started = False
        self.client_gone = False

    async def run(self) -> None:
        self.handler = asyncio.ensure_future(self.app(self.scope, self._receive, self._send))
        try:
            await self.handler
        except asyncio.CancelledError:
            if not self.client_gone:
                raise  # cancelled from outside (shutdown): not ours to swallow
        finally:
            if self.listener is not None:
                self.listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.listener

    async def _receive(self) -> Message:
        message = await self.receive()
        body_complete = message["type"] == "http.request" and not message.get("more_body", False)
        if body_complete and self.listener is None:
            # The app will not read again, so the next message can only be the client hanging up.
            self.listener = asyncio.ensure_future(self._listen())
        return message

    async def _send(self, message: Message) -> None:
        self.response_started = True
        await self.send(message)

    async def _listen(self) -> None:
        message = await self.receive()
        if message["type"] == "http.disconnect" and not self.response_started and self.handler is not None:
            self.client_gone = True
            log.debug("client hung up before its answer: cancelling %s %s", self.scope["method"], self.scope["path"])
            self.handler.cancel()

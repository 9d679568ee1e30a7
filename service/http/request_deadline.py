"""Stopping work for clients that left: the scope keys the service's HTTP protocol and the front door share, and the
way it is done under any other server.

If the client hangs up before the response starts, the handler is cancelled, which cancels its batcher submission,
so rows nobody will read are never run. Under the service's own HTTP protocol (service/server/http_protocol.py), the
protocol marks the scope with CANCELS_ON_DISCONNECT and cancels the task the front door noted in HANDLER_TASK when
the connection is lost: no task of our own per request. Under any other server (an ASGI test client, another
server), `cancel_on_disconnect` runs the handler in a task and listens for the disconnect in another once the body
has been read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CANCELS_ON_DISCONNECT = "sigmoid_serve.cancels_on_disconnect"  # scope key: the protocol cancels HANDLER_TASK
HANDLER_TASK = "sigmoid_serve.handler_task"  # scope key: the task to cancel while the response has not started
CLIENT_GONE = "sigmoid_serve.client_gone"  # scope key: set by the protocol when it cancels for a lost connection


async def cancel_on_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`app(scope, receive, send)`, cancelled if the client hangs up before the response starts."""
    await _CancelOnDisconnect(app, scope, receive, send).run()


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

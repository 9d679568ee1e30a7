"""The app's front door: HTTP requests go straight to the service's own middleware chain.

FastAPI.__call__ asks OpenTelemetry on every request whether a tracer, meter or logger provider is configured (three
global look-ups and checks), then runs three middlewares of its own before ours: ServerErrorMiddleware (a 500 that
RequestContextMiddleware, the outermost of ours, already answers, with the request id), ExceptionTelemetryMiddleware
(records exceptions for OpenTelemetry) and AppBodyLimitMiddleware (FastAPI's max_body_size, unset here: the service
bounds bodies itself with MAX_BODY_BYTES). When no OpenTelemetry provider is configured at startup (this service
configures none), no max_body_size and no root_path are set, `ServiceApp` skips them all and calls the first user
middleware directly, with `scope["app"]` set as Starlette sets it. Everything else (lifespan, and every request when a
provider is configured, so FastAPI's native telemetry still works) takes FastAPI's own way.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


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

"""The inference endpoints without the router's full walk: same handlers, same errors, fewer layers.

FastAPI routes and documents every endpoint. For a POST to one of the hot endpoints (the `LeanRoute`s of
`native.predict_router`, `v2.infer_router` and `tfserving.predict_router`), this middleware, the innermost (so API
keys, CORS, request ids, metrics and deadlines have all run), finds the route among those few and calls its handler
directly.
It skips the walk over every router, the exception middleware and FastAPI's exit stack. Errors answer through
the same mapping as the app's handlers (`errors.py`); anything unexpected goes on up to the request middleware's
500 answer.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.errors import ServiceError
from ..protocols.http_adapter import client_gone_response, error_response


class FastLaneMiddleware:
    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self._routes = [(route, route.get_route_handler()) for route in routes if route.methods == {"POST"}]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for route, handler in self._routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    request = Request(scope, receive, send)
                    try:
                        response = await handler(request)
                    except ServiceError as exc:
                        response = error_response(exc)
                    except ClientDisconnect:
                        response = client_gone_response()
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

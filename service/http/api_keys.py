"""Optional API keys: with API_KEYS / API_KEYS_FILE set, every route but the open ones needs
`Authorization: Bearer <key>`.

A pure ASGI middleware with an allow-list of open paths, so routes added later (any protocol) are
protected without knowing about it. Open: health probes (/health/*, /v2/health/*), /metrics (scrapers;
it holds counts and model names, never payloads) and the API docs (/docs, /redoc, /openapi.json), so a
person can read the API and enter a key in Swagger UI. CORS preflights (OPTIONS) are answered by the
CORS middleware outside this one. Keys are compared in constant time against all keys and never logged.
"""

from __future__ import annotations

import hmac
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import send_error

log = logging.getLogger(__name__)

OPEN_PREFIXES = ("/health/", "/v2/health/", "/docs")
OPEN_PATHS = frozenset({"/metrics", "/openapi.json", "/redoc", "/health", "/v2/health"})


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def key_matches(keys: list[bytes], given: bytes) -> bool:
    # Every key is compared, whatever matched: the time taken says nothing about which key is close.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(key, given)
    return matched


def bearer_refusal(keys: list[bytes], authorization: bytes) -> str | None:
    """Why an `Authorization` value (HTTP header or gRPC metadata) is refused, or None when it carries a key."""
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() == b"bearer" and token.strip() and key_matches(keys, token.strip()):
        return None
    if authorization:
        return "invalid API key"
    return "missing API key: send the header 'Authorization: Bearer <key>'"


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self._keys = [key.encode() for key in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
                break
        message = bearer_refusal(self._keys, authorization)
        if message is None:
            await self.app(scope, receive, send)
            return
        challenge = b'Bearer error="invalid_token"' if authorization else b"Bearer"
        await send_error(send, 401, message, [(b"www-authenticate", challenge)])


def add_api_keys(app, keys: list[str]) -> None:
    if keys:
        app.add_middleware(ApiKeyMiddleware, keys=keys)
        log.info("API keys required (%d configured)", len(keys))

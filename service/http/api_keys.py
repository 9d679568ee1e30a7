"""Optional API keys: with API_KEYS / API_KEYS_FILE set, every route but the open ones needs
`Authorization: Bearer <key>`.

Checked by the front door (`front_door.py`) for every HTTP request and by the gRPC server for every call, with an
allow-list of open paths, so routes added later (any protocol) are protected without knowing about it. Open: health
probes (/health/*, /v2/health/*), /metrics (scrapers; it holds counts and model names, never payloads) and the API
docs (/docs, /redoc, /openapi.json), so a person can read the API and enter a key in Swagger UI. CORS preflights
(OPTIONS) are answered before keys are checked. Keys are compared in constant time against all keys and never
logged."""

from __future__ import annotations

import hmac

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


def challenge(authorization: bytes) -> bytes:
    """The WWW-Authenticate value of a 401: which key problem it was, as RFC 6750 words it."""
    return b'Bearer error="invalid_token"' if authorization else b"Bearer"

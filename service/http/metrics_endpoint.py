"""GET /metrics: the Prometheus scrape endpoint (all workers summed), left out of the OpenAPI document.

An operations endpoint for Prometheus, not part of the client API; open without an API key (`api_keys.py`): it holds
counts and model names, never payloads.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..protocols.http_adapter import data_plane
from ..telemetry.metrics import exposition

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of the server, all workers summed (text exposition format)."""
    return Response(exposition(data_plane(request).ready().ready), media_type=CONTENT_TYPE_LATEST)

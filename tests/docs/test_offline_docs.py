"""/docs and /redoc load nothing from outside the service, and every OpenAPI example runs as written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.docs import is_docs_path
from tests.docs.openapi_walk import asset_urls, missing_examples, operations
from tests.server import RunningServer

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
ABSOLUTE_URL = re.compile(r"(?:https?:)?//[\w.-]+")


@pytest.fixture
def docs_client(docs_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=docs_server.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def openapi(docs_server: RunningServer) -> dict[str, Any]:
    response = httpx.get(docs_server.url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_assets_served_here(docs_client: httpx.Client, page: str) -> None:
    response = docs_client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert ABSOLUTE_URL.findall(html) == [], "the page names an outside host: it would not render offline"
    urls = asset_urls(html)
    assert len(urls) >= 2  # the favicon, and the JavaScript (plus the CSS for Swagger UI)
    for url in urls:
        assert url.startswith("/docs-static/"), url
        asset = docs_client.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[url[url.rfind(".") :]]
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000, url


def test_swagger_ui_keeps_authorization_and_points_at_the_openapi_document(docs_client: httpx.Client) -> None:
    html = docs_client.get("/docs").text
    assert '"persistAuthorization": true' in html
    assert "url: '/openapi.json'" in html
    assert '"validatorUrl": null' in html  # no badge image from validator.swagger.io
    assert docs_client.get("/docs/oauth2-redirect").status_code == 200


def test_docs_paths_are_the_ones_served(docs_client: httpx.Client) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/docs-static/swagger-ui.css"):
        assert is_docs_path(path)
        assert docs_client.get(path).status_code == 200, path
    for path in ("/predict", "/models", "/docs-staticx", "/redoc/x", "/openapi.yaml"):
        assert not is_docs_path(path)


def test_every_operation_has_examples(openapi: dict[str, Any]) -> None:
    missing = {op.name: m for op in operations(openapi) if (m := missing_examples(op))}
    assert missing == {}


def test_every_request_example_runs_as_written(docs_client: httpx.Client, openapi: dict[str, Any]) -> None:
    """Exactly what "Try it out" -> "Execute" sends for each example; each must succeed."""
    ran = 0
    for op in operations(openapi):
        bodies = op.request_examples() if op.has_body() else [None]
        for body in bodies:
            response = docs_client.request(op.method, op.url(), json=body)
            assert response.status_code == 200, (op.name, body, response.text)
            ran += 1
            example = op.success_example()
            if isinstance(example, dict):
                # The example shows the real shape (the OpenAPI document drops null values, so do the same).
                answered = {key for key, value in response.json().items() if value is not None}
                assert answered == set(example), op.name
    assert ran >= 10


def test_predict_example_is_a_real_digit_row(openapi: dict[str, Any]) -> None:
    predict = next(op for op in operations(openapi) if op.path == "/predict")
    row = predict.request_examples()[0]["instances"][0]
    assert len(row) == 64
    assert all(float(v).is_integer() and 0 <= v <= 16 for v in row)
    assert sum(row) > 100  # strokes, not a blank image

"""/docs and /redoc load nothing from outside the service, and every OpenAPI example runs as written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from service.http.api_keys import is_open
from service.protocols.examples import (
    DEMO_INPUT,
    DIGIT_0,
    DIGIT_0_PROBABILITIES,
    DIGIT_3,
    DIGIT_3_PROBABILITIES,
)
from tests.support.openapi_walk import asset_urls, missing_examples, operations
from tests.support.server import DEMO_MODEL_FILE, RunningServer, client_for

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
UNLOAD = "POST /v2/repository/models/{name}/unload"
ABSOLUTE_URL = re.compile(r"(?:https?:)?//[\w.-]+")


@pytest.fixture
def docs_client(docs_server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(docs_server)


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
    # The browser itself refuses anything not from this origin (ReDoc's side menu names a CDN logo).
    assert "default-src 'self'" in response.headers["content-security-policy"]
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


def test_docs_paths_are_served_and_open_without_a_key(docs_client: httpx.Client) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/docs-static/swagger-ui.css"):
        assert is_open(path)
        assert docs_client.get(path).status_code == 200, path
    for path in ("/predict", "/models", "/redoc/x", "/openapi.yaml"):
        assert not is_open(path)


def test_every_operation_has_examples(openapi: dict[str, Any]) -> None:
    missing = {op.name: m for op in operations(openapi) if (m := missing_examples(op))}
    assert missing == {UNLOAD: ["path parameter {name}"]}  # deliberately blank: a click must not unload a model


def test_every_request_example_runs_as_written(docs_client: httpx.Client, openapi: dict[str, Any]) -> None:
    """Exactly what "Try it out" -> "Execute" sends for each example; each must succeed."""
    ran = 0
    for op in operations(openapi):
        if op.name == UNLOAD:
            continue
        bodies = op.request_examples() if op.has_body() else [None]
        for i, body in enumerate(bodies):
            response = docs_client.request(op.method, op.url(), json=body)
            assert response.status_code == 200, (op.name, body, response.text)
            ran += 1
            example = op.success_example()
            if i == 0 and isinstance(example, dict):  # the answer to the example "Try it out" preselects
                # The example shows the real shape (the OpenAPI document drops null values, so do the same).
                answered = {key for key, value in response.json().items() if value is not None}
                assert answered == set(example), op.name
    assert ran >= 10
    assert docs_client.get("/health/ready").status_code == 200


def test_examples_are_real_digits_and_the_demo_model_answers(openapi: dict[str, Any]) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    assert digits.data[3].tolist() == DIGIT_3 and digits.target[3] == 3
    assert digits.data[0].tolist() == DIGIT_0 and digits.target[0] == 0
    predict = next(op for op in operations(openapi) if op.path == "/predict")
    assert predict.request_examples()[0] == {"instances": [DIGIT_3]}
    session = ort.InferenceSession(str(DEMO_MODEL_FILE))
    (probabilities,) = session.run(["probabilities"], {DEMO_INPUT: np.array([DIGIT_3, DIGIT_0], np.float32)})
    np.testing.assert_allclose(probabilities, [DIGIT_3_PROBABILITIES, DIGIT_0_PROBABILITIES], atol=1e-6)
    shown = predict.success_example()["predictions"][0]["probabilities"]
    assert shown == DIGIT_3_PROBABILITIES

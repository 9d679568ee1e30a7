"""With API keys on, the docs stay open (pages, assets, OpenAPI) and Swagger UI's "Authorize" carries the key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.http.docs import DOCS_PATHS
from tests.support.browser import offline_page
from tests.support.openapi_walk import asset_urls
from tests.support.server import RunningServer, serving

KEY = "docs-test-key-8c1f"


@pytest.fixture(scope="module")
def keyed_server(digits_repository: Path) -> Iterator[RunningServer]:
    yield from serving({"MODEL_REPOSITORY": str(digits_repository), "API_KEYS": KEY})


def test_docs_pages_and_assets_need_no_key(keyed_server: RunningServer) -> None:
    with httpx.Client(base_url=keyed_server.url, timeout=10) as http:
        assert http.post("/predict", json={"instances": [[0.0] * 64]}).status_code == 401  # keys are on
        for path in DOCS_PATHS:
            assert http.get(path).status_code == 200, path
        for page in ("/docs", "/redoc"):
            for url in asset_urls(http.get(page).text):
                assert http.get(url).status_code == 200, url
        assert "bearer" in http.get("/openapi.json").json()["components"]["securitySchemes"]


def test_authorize_then_try_it_out_and_the_key_survives_a_new_visit(keyed_server: RunningServer) -> None:
    with offline_page() as offline:
        page = offline.page
        page.goto(keyed_server.url + "/docs")
        authorize = page.locator(".auth-wrapper .authorize")
        authorize.wait_for(timeout=20_000)
        authorize.click()
        page.locator(".modal-ux input").fill(KEY)
        page.locator(".modal-ux button.authorize").click()
        page.locator(".modal-ux button.btn-done").click()

        def execute_predict() -> tuple[str, str]:
            predict = page.locator(".opblock", has=page.locator('.opblock-summary-path[data-path="/predict"]'))
            predict.locator(".opblock-summary").click()
            predict.get_by_role("button", name="Try it out").click()
            predict.get_by_role("button", name="Execute").click()
            status = predict.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=20_000)
            body = predict.locator(".live-responses-table tbody .highlight-code pre").inner_text()
            return status.inner_text().strip(), body

        status, body = execute_predict()
        assert status == "200", body
        assert len(json.loads(body)["predictions"][0]["probabilities"]) == 5

        # A fresh visit (no deep link): persistAuthorization kept the key in the browser, it is not asked again.
        page.goto(keyed_server.url + "/docs")
        page.locator(".opblock").first.wait_for(timeout=20_000)
        status, body = execute_predict()
        assert status == "200", body
        assert offline.blocked == []
        assert offline.errors == []

"""/docs and /redoc in a real headless Chromium with every host but 127.0.0.1 unreachable: they must render and
"Try it out" must answer, which is what a person on an air-gapped network gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page

from service.protocols.examples import DEMO_LABELS
from tests.support.browser import offline_page
from tests.support.openapi_walk import operations
from tests.support.server import ROOT, RunningServer

ARTIFACTS = ROOT / "tests" / "artifacts"
# ReDoc 2.5's side menu shows a logo from its CDN; the page's Content-Security-Policy refuses it before any request.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def openapi(docs_server: RunningServer) -> dict[str, Any]:
    return httpx.get(docs_server.url + "/openapi.json", timeout=10).json()


def test_swagger_ui_try_it_out_on_predict_offline(docs_server: RunningServer, openapi: dict[str, Any]) -> None:
    with offline_page() as offline:
        page = offline.page
        page.goto(docs_server.url + "/docs")
        page.locator(".opblock").first.wait_for(timeout=20_000)
        assert page.locator(".opblock").count() == len(operations(openapi))
        assert "sigmoid-serve" in page.locator(".info .title").inner_text()

        predict = page.locator(".opblock", has=page.locator('.opblock-summary-path[data-path="/predict"]'))
        predict.locator(".opblock-summary").click()
        predict.get_by_role("button", name="Try it out").click()
        sent = json.loads(predict.locator("textarea.body-param__text").input_value())  # the example, unedited
        predict.get_by_role("button", name="Execute").click()
        status = predict.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=20_000)
        assert status.inner_text().strip() == "200"
        answer = json.loads(predict.locator(".live-responses-table tbody .highlight-code pre").inner_text())

        save_screenshot(page, predict.locator(".live-responses-table"), ARTIFACTS / "docs.png")

        # A path parameter comes prefilled from its example too.
        model = page.locator(".opblock-get", has=page.locator('.opblock-summary-path[data-path="/models/{name}"]'))
        model.locator(".opblock-summary").click()
        model.get_by_role("button", name="Try it out").click()
        assert model.locator('input[placeholder="name"]').input_value() == "digits"
        model.get_by_role("button", name="Execute").click()
        model_status = model.locator(".live-responses-table tbody .response-col_status").first
        model_status.wait_for(timeout=20_000)
        assert model_status.inner_text().strip() == "200"
        assert offline.blocked == []
        assert offline.csp_violations() == []
        assert offline.errors == []

    assert len(sent["instances"][0]) == 64
    assert answer["labels"] == DEMO_LABELS
    probabilities = answer["predictions"][0]["probabilities"]
    assert len(probabilities) == len(DEMO_LABELS) and all(0 <= p <= 1 for p in probabilities)
    # The page showed exactly what the API answers for that body.
    assert answer == httpx.post(docs_server.url + "/predict", json=sent, timeout=10).json()


def save_screenshot(page: Page, last: Locator, path: Path) -> None:
    """The page from the top down to `last`, with the curl block hidden: it repeats the 64 numbers of the body."""
    page.add_style_tag(content=".curl-command { display: none !important; }")
    page.evaluate("window.scrollTo(0, 0)")
    box = last.bounding_box()
    assert box is not None
    path.parent.mkdir(exist_ok=True)
    page.screenshot(
        path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 16}
    )


def test_redoc_renders_and_searches_offline(docs_server: RunningServer, openapi: dict[str, Any]) -> None:
    with offline_page() as offline:
        page = offline.page
        page.goto(docs_server.url + "/redoc")
        page.locator(".api-content h2").first.wait_for(timeout=20_000)
        headings = page.locator(".api-content h2").all_inner_texts()
        assert len(headings) >= len(operations(openapi))
        page.get_by_placeholder("Search...").fill("predict")  # search runs in a blob: web worker
        results = page.locator('[data-role="search:results"] [role="menuitem"]')
        results.first.wait_for(timeout=20_000)
        assert results.count() >= 3  # the three native predict operations at least
        assert offline.blocked == []
        assert set(offline.csp_violations()) <= {REDOC_LOGO}
        assert offline.errors == []

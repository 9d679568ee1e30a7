"""The docs site as `make docs` builds it (mkdocs build --strict into site/), opened in Debian's Chromium with every
host but 127.0.0.1 unreachable: the pages render, the navigation goes from page to page, the search finds
"threshold" offline, and no request leaves the machine."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.browser import offline_page
from tests.support.server import ROOT

SITE = ROOT / "site"
ARTIFACTS = ROOT / "tests" / "artifacts"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Path:
    """The site built as `make docs` builds it: a warning (a broken link or anchor) fails the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(SITE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return SITE


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def heading(page: Page) -> str:
    """The page's title, without the permalink sign the table of contents adds."""
    return page.locator("article h1").inner_text().removesuffix("¶").strip()


def search(page: Page, query: str, timeout: float = 30.0) -> Locator:
    """The results of a query typed into the site's search. The index loads in a web worker after the page: a query
    typed before it is ready shows nothing, so it is typed again until results show (a person would retype too)."""
    field = page.locator("input.md-search__input")
    results = page.locator("li.md-search-result__item")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.locator("label.md-search__icon, input.md-search__input").first.click()
        field.fill("")
        field.press_sequentially(query)
        try:
            results.first.wait_for(timeout=2_000)
            return results
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"no search results for {query!r} within {timeout} s")


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    """No CDN, no web fonts: every script, stylesheet and image the pages load is the site's own."""
    remote = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)
    offenders = [str(page.relative_to(site)) for page in site.rglob("*.html") if remote.search(page.read_text())]
    assert not offenders


@pytest.mark.smoke
def test_the_site_renders_navigates_and_searches_offline(site_url: str) -> None:
    with offline_page() as offline:
        page = offline.page
        page.goto(f"{site_url}/index.html")
        assert heading(page) == "sigmoid-serve"

        # Navigation: the side menu leads from page to page, and a link in a page too.
        page.locator("nav.md-nav--primary a.md-nav__link", has_text="Getting started").first.click()
        page.wait_for_url(re.compile(r"/getting-started\.html$"))
        assert heading(page) == "Getting started"
        page.locator("nav.md-nav--primary a.md-nav__link", has_text="Configuration").first.click()
        page.wait_for_url(re.compile(r"/serving/configuration\.html$"))
        assert page.locator("article table").count() >= 1
        assert page.locator("article", has_text="MAX_BATCH_SIZE").count() == 1
        page.locator("article a", has_text="Repository and hot updates").first.click()
        page.wait_for_url(re.compile(r"/serving/repository\.html"))

        # Search: the index and its worker come from the site itself.
        results = search(page, "threshold")
        assert results.count() >= 3
        assert "threshold" in results.first.inner_text().lower()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "site-search.png"))
        results.first.locator("a").first.click()
        page.wait_for_load_state()
        assert page.locator("article h1").count() == 1

        assert offline.blocked == []
        assert offline.errors == []

"""Debian's Chromium driven by Playwright, with every request to a host other than 127.0.0.1 blocked and recorded.

No browser download: Playwright launches /usr/bin/chromium (CHROMIUM overrides it). `make browser` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless and its own flags; these keep Chromium from phoning home or needing a sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
LOCAL_SCHEMES = ("data", "blob", "about")


# Records what the page's Content-Security-Policy refused: the browser never sends those requests at all.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.blockedURI));
"""


@dataclass
class OfflinePage:
    page: Page
    blocked: list[str] = field(default_factory=list)  # outside requests the page attempted
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.cspViolations")


@contextmanager
def offline_page(width: int = 1280, height: int = 900) -> Iterator[OfflinePage]:
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found: run `make browser` (apt-get install chromium) or set CHROMIUM")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (--user-data-dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            offline = OfflinePage(context.new_page())

            def only_loopback(route: Route) -> None:
                url = urlsplit(route.request.url)
                if url.scheme in LOCAL_SCHEMES or url.hostname == "127.0.0.1":
                    route.continue_()
                else:
                    offline.blocked.append(route.request.url)
                    route.abort("internetdisconnected")

            context.route("**/*", only_loopback)
            offline.page.add_init_script(RECORD_CSP_VIOLATIONS)
            offline.page.on("pageerror", lambda error: offline.errors.append(str(error)))
            yield offline
        finally:
            browser.close()

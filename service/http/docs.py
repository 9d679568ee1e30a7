"""/docs (Swagger UI) and /redoc served entirely from this process: no CDN, so they render on air-gapped networks.

The JavaScript and CSS come from the `fastapi-offline` package (Swagger UI 5 and ReDoc 2 standalone bundles, about
2.8 MB). Every path here must stay reachable without an API key: see DOCS_PATHS.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
STATIC_URL = "/docs-static"
OPENAPI_URL = "/openapi.json"

# Paths an authentication layer must leave open (exact paths, and the static prefix).
DOCS_PATHS = (DOCS_URL, OAUTH2_REDIRECT_URL, REDOC_URL, OPENAPI_URL)

SWAGGER_UI_PARAMETERS = {
    # Keep the key entered under "Authorize" across page reloads.
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0,
    # The default validator badge would fetch an image from validator.swagger.io.
    "validatorUrl": None,
}


# The pages may load from this origin only, so a browser never tries the network for them. This matters for
# ReDoc 2.5, whose side menu has a hard-coded logo <img> on cdn.redoc.ly: refused here, ReDoc hides it (onError).
# Inline script/style: Swagger UI's start-up script and ReDoc's styled-components; blob: workers: ReDoc's search.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def add_docs(app: FastAPI) -> None:
    """Adds the offline docs routes; create the app with docs_url=None, redoc_url=None."""
    app.mount(STATIC_URL, StaticFiles(directory=ASSETS_DIR), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_swagger_ui_html(
                openapi_url=root + (app.openapi_url or OPENAPI_URL),
                title=f"{app.title} - API docs",
                oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _local_only(
            get_redoc_html(
                openapi_url=root + (app.openapi_url or OPENAPI_URL),
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page

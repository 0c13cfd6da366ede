"""``/docs`` and ``/redoc`` from assets the service serves itself, so they work without internet.

FastAPI's defaults load Swagger UI and ReDoc from a CDN: a blank page offline, against the rule that
every script is served by the service. The assets come from the ``fastapi-offline`` package; its ReDoc
bundle still shows Redocly's logo from ``cdn.redoc.ly``, so ``/redoc`` loads a copy of the bundle with
that one address pointed at the service's own icon: no request leaves the service (issue 27.9).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from bcp_service.auth.deps import Access

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static-docs"
REDOC_JS_URL = "/redoc/redoc.standalone.js"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
router = APIRouter(include_in_schema=False, dependencies=[Depends(Access(public="API documentation"))])


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - API 文書",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    app = request.app
    return get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - API 文書 (ReDoc)",
        redoc_js_url=REDOC_JS_URL,
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )


@cache
def redoc_bundle() -> bytes:
    """The packaged ReDoc bundle with its one outside image (the footer logo) served by us instead."""
    text = (ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(REDOC_LOGO, f"{ASSETS_URL}/favicon.png").encode("utf-8")


@router.get(REDOC_JS_URL)
def redoc_js() -> Response:
    return Response(
        redoc_bundle(), media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=86400"}
    )


def install_docs(app: FastAPI) -> None:
    """Create the app with ``docs_url=None, redoc_url=None`` and call this instead."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.include_router(router)

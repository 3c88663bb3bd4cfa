"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from vendored copies, not a CDN.

FastAPI's own pages load their scripts, stylesheet, favicon and fonts from jsdelivr, Google
and tiangolo.com: blank without internet. These pages are the same HTML pointed at files
copied from the npm registry into ``static/docs`` (versions and checksums in its
``VERSIONS.md``); the app is built with ``docs_url=None, redoc_url=None``. A
Content-Security-Policy keeps both pages to this origin (``tests/e2e/dashboard/
test_api_docs_offline_in_chromium.py`` renders them with the network cut to localhost).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from switchboard.api.dashboard.headers import NO_FRAMING_OR_SNIFFING

STATIC = Path(__file__).resolve().parent.parent / "static" / "docs"
SWAGGER_UI = "swagger-ui-dist-5.35.0"
REDOC = "redoc-2.5.4"
ASSETS = "/docs/assets"
TITLE = "Switchboard API"
OPENAPI_URL = "/openapi.json"
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
#: What the pages load, by URL path under ``ASSETS``; nothing else there is served.
SERVED = {
    f"{directory}/{file.name}": file
    for directory in (SWAGGER_UI, REDOC)
    for file in (STATIC / directory).iterdir()
    if file.suffix in _MEDIA_TYPES
}
FAVICON = f"{ASSETS}/{SWAGGER_UI}/favicon-32x32.png"
# The version is in every asset's URL, so a browser may keep them until the next upgrade.
_CACHE = {"Cache-Control": "public, max-age=31536000, immutable"}
# The pages may load from this origin only: ReDoc 2 shows its logo from cdn.redoc.ly (it hides
# the image when it fails to load), a request the browser never makes under this policy.
# Inline script and styles are the pages' own (FastAPI's HTML, ReDoc's styled components);
# ReDoc searches in a worker it starts from a blob. No other site may frame them (Swagger UI
# takes an API key: a framed page could be clicked or typed into unseen).
_POLICY = {
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "worker-src 'self' blob:",
            "connect-src 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    ),
    **NO_FRAMING_OR_SNIFFING,
}

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    """Swagger UI: every operation, with "Try it out"."""
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{ASSETS}/{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        # null: no badge fetched from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )
    page.headers.update(_POLICY)
    return page


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    """ReDoc: the same description as one readable page."""
    page = get_redoc_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{ASSETS}/{REDOC}/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
    page.headers.update(_POLICY)
    return page


@router.get(f"{ASSETS}/{{directory}}/{{name}}")
def docs_asset(directory: str, name: str) -> FileResponse:
    """One vendored file of Swagger UI or ReDoc."""
    file = SERVED.get(f"{directory}/{name}")
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    return FileResponse(file, media_type=_MEDIA_TYPES[file.suffix], headers=_CACHE)

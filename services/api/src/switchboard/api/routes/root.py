"""``/``, which the ``switchboard run`` banner advertises as the API, and ``/favicon.ico``.

``/`` sends a person who opens the API's address in a browser to its documentation (307);
``/favicon.ico`` is the dashboard's icon, for the browsers that ask the site's root for it.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import FileResponse, RedirectResponse

from switchboard.api.dashboard.rendering import STATIC

router = APIRouter(include_in_schema=False)
ICON = STATIC / "favicon.svg"


@router.get("/")
def root() -> RedirectResponse:
    """To the API's documentation (Swagger UI)."""
    return RedirectResponse("/docs", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The site's icon (an SVG: browsers read the type, not the name)."""
    return FileResponse(
        ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )

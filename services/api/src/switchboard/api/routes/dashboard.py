"""The operator console's shell at /dashboard: logging in and out, the static files, and the
small pages (leads, parked events). The console's other pages have their own modules:
``dashboard_overview`` (overview, queues, workers), ``dashboard_jobs``, ``dashboard_runs``,
``dashboard_calls``, ``dashboard_conversations`` and ``dashboard_erasures``. Pages are thin:
each reads one domain service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, next_cursor
from switchboard.api.dashboard.htmx import LOGIN
from switchboard.api.dashboard.rendering import STATIC, page
from switchboard.api.dashboard.session import (
    check_csrf,
    end_session,
    is_logged_in,
    new_session,
    read_session,
    start_session,
    write_session,
)
from switchboard.api.deps import SettingsDep
from switchboard.api.events import parking
from switchboard.api.pagination import decode_id_cursor
from switchboard.api.schemas import Storable, Text
from switchboard.common.http_errors import error_response
from switchboard.common.utc_text import utc_text
from switchboard.domain.businesses.accounts import live_api_key
from switchboard.domain.leads import store as leads
from switchboard.domain.outbound import active_runs

router = APIRouter(prefix="/dashboard", include_in_schema=False)
#: The files ``/dashboard/static/`` serves, and nothing else (vendored ones: vendor/README.md).
STATIC_FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
    "vendor/htmx-2.0.11.min.js": "text/javascript",
    "vendor/uPlot-1.6.32.iife.min.js": "text/javascript",
    "vendor/uPlot-1.6.32.min.css": "text/css",
}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The login page; it issues a pre-login session so the form carries a CSRF token."""
    session = read_session(request, settings) or new_session()
    response = page(request, "login.html", csrf_token=session.csrf_token, business=None)
    write_session(request, response, session, settings)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    settings: SettingsDep,
    api_key: Annotated[Text, Form(max_length=200)],
    csrf_token: Annotated[Text, Form(max_length=100)],
) -> HTMLResponse:
    """Exchange an API key for a session cookie (ending the session the cookie held, if any:
    replaced, it could no longer be logged out)."""
    previous = read_session(request, settings)
    check_csrf(previous, csrf_token)
    found = live_api_key(api_key.strip())
    if found is None:
        return page(
            request,
            "login.html",
            status.HTTP_401_UNAUTHORIZED,
            csrf_token=csrf_token,
            business=None,
            error="That API key is not valid.",
        )
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    key_id, business_id = found
    end_session(previous)
    write_session(request, response, start_session(business_id, key_id), settings)
    return response  # type: ignore[return-value]


@router.post("/logout")
def logout(
    request: Request, settings: SettingsDep, csrf_token: Annotated[Text, Form(max_length=100)]
) -> RedirectResponse:
    """End the session: its record is deleted, so the old cookie opens nothing any more."""
    session = read_session(request, settings)
    check_csrf(session, csrf_token)
    end_session(session)
    response = RedirectResponse("/dashboard/login", status_code=status.HTTP_303_SEE_OTHER)
    write_session(request, response, new_session(), settings)
    return response


@router.get("/api/runs")
def runs_json(request: Request, settings: SettingsDep) -> JSONResponse:
    """The active runs and their counts, polled by the progress bars."""
    session = read_session(request, settings)
    if session is None or session.business_id is None or not is_logged_in(session):
        return error_response(status.HTTP_401_UNAUTHORIZED, "not logged in: log in at " + LOGIN)
    runs = [
        {**run.as_json(), "started_at": run.started_at and utc_text(run.started_at)}
        for run in active_runs(session.business_id)
    ]
    return JSONResponse({"runs": runs})


@router.get("/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    settings: SettingsDep,
    q: Annotated[str, Field(max_length=200), Storable] | None = Query(None),
    cursor: Annotated[str, Field(max_length=100), Storable] | None = Query(None),
) -> HTMLResponse:
    """Leads, newest first, with search."""
    session, business_id = logged_in(request, settings)
    found = leads.list_leads(
        business_id, leads.LeadFilter(search=q), limit=50, after=decode_id_cursor(cursor)
    )
    context = layout(session, "/dashboard/leads", leads=found.items, q=q)
    return page(request, "leads.html", next_cursor=next_cursor(found.next_after), **context)


@router.get("/events", response_class=HTMLResponse)
def parked_events(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Call events of this business that could not be handled: type, id, masked call, error."""
    session, business_id = logged_in(request, settings)
    events = parking.list_parked(business_id, limit=100)
    count = parking.count_parked(business_id)
    context = layout(session, "/dashboard/events", events=events, count=count)
    return page(request, "events.html", **context)


@router.get("/static/{name:path}")
def static(name: str) -> FileResponse:
    """The dashboard's stylesheet and script, and the vendored htmx and uPlot."""
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    # A vendored file's name carries its version, so it never changes under that name.
    vendored = name.startswith("vendor/")
    cache = "public, max-age=31536000, immutable" if vendored else "public, max-age=300"
    headers = {"Cache-Control": cache}
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers=headers)

"""The operator dashboard at /dashboard: log in with an API key, then read-only pages and
one action (retry a dead job). Pages are thin: each reads one domain service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from switchboard.api.dashboard.rendering import SECURITY_HEADERS, STATIC, page
from switchboard.api.dashboard.session import (
    DashboardSession,
    check_csrf,
    end_session,
    is_logged_in,
    new_session,
    read_session,
    require_login,
    start_session,
    write_session,
)
from switchboard.api.deps import SettingsDep
from switchboard.api.events import parking
from switchboard.api.pagination import decode_id_cursor, encode_cursor
from switchboard.api.schemas import Text
from switchboard.common.db.keyset import MAX_ID
from switchboard.common.errors import NotFoundError
from switchboard.common.jobs import service as jobs
from switchboard.domain.businesses import settings as business_settings
from switchboard.domain.businesses.accounts import live_api_key
from switchboard.domain.calls import queries as calls_query
from switchboard.domain.leads import store as leads
from switchboard.domain.operations import overview as operations_overview
from switchboard.domain.outbound import active_runs

router = APIRouter(prefix="/dashboard", include_in_schema=False)
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
CallId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _context(session: DashboardSession, active: str, **extra: Any) -> dict[str, Any]:
    assert session.business_id is not None
    business = business_settings.own_settings(session.business_id).business
    return {"business": business, "csrf_token": session.csrf_token, "active": active, **extra}


def _next(next_after: int | None) -> str | None:
    return encode_cursor(next_after) if next_after is not None else None


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The login page; it issues a pre-login session so the form carries a CSRF token."""
    session = read_session(request, settings) or new_session()
    response = page(request, "login.html", csrf_token=session.csrf_token, business=None)
    write_session(response, session, settings)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    settings: SettingsDep,
    api_key: Annotated[Text, Form(max_length=200)],
    csrf_token: Annotated[Text, Form(max_length=100)],
) -> HTMLResponse:
    """Exchange an API key for a session cookie."""
    check_csrf(read_session(request, settings), csrf_token)
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
    write_session(response, start_session(business_id, key_id), settings)
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
    write_session(response, new_session(), settings)
    return response


@router.get("", response_class=HTMLResponse)
def overview(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Active calls, queues, job throughput, latency and failures, and live runs."""
    session = require_login(request, settings)
    assert session.business_id is not None
    figures = operations_overview(session.business_id)
    return page(request, "overview.html", **_context(session, "/dashboard", overview=figures))


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Outbound runs with live progress bars."""
    session = require_login(request, settings)
    return page(request, "runs.html", **_context(session, "/dashboard/runs"))


@router.get("/api/runs")
def runs_json(request: Request, settings: SettingsDep) -> JSONResponse:
    """The active runs and their counts, polled by the progress bars."""
    session = read_session(request, settings)
    if session is None or session.business_id is None or not is_logged_in(session):
        return JSONResponse({"detail": "log in"}, status_code=status.HTTP_401_UNAUTHORIZED)
    body = {"runs": [run.as_json() for run in active_runs(session.business_id)]}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/calls", response_class=HTMLResponse)
def calls(
    request: Request, settings: SettingsDep, cursor: Text | None = Query(None, max_length=100)
) -> HTMLResponse:
    """Recent calls, newest first."""
    session = require_login(request, settings)
    assert session.business_id is not None
    found = calls_query.list_calls(
        session.business_id, calls_query.CallFilter(), limit=25, after=decode_id_cursor(cursor)
    )
    context = _context(session, "/dashboard/calls", calls=found.items)
    return page(request, "calls.html", next_cursor=_next(found.next_after), **context)


@router.get("/calls/{call_id}", response_class=HTMLResponse)
def call(request: Request, settings: SettingsDep, call_id: CallId) -> HTMLResponse:
    """One call with its transcript."""
    session = require_login(request, settings)
    assert session.business_id is not None
    try:
        detail = calls_query.get_call(session.business_id, call_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    context = _context(session, "/dashboard/calls", call=detail.call)
    return page(request, "call.html", recordings=detail.recordings, **context)


@router.get("/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    settings: SettingsDep,
    q: Text | None = Query(None, max_length=200),
    cursor: Text | None = Query(None, max_length=100),
) -> HTMLResponse:
    """Leads, newest first, with search."""
    session = require_login(request, settings)
    assert session.business_id is not None
    found = leads.list_leads(
        session.business_id, leads.LeadFilter(search=q), limit=50, after=decode_id_cursor(cursor)
    )
    context = _context(session, "/dashboard/leads", leads=found.items, q=q)
    return page(request, "leads.html", next_cursor=_next(found.next_after), **context)


@router.get("/jobs", response_class=HTMLResponse)
def dead_jobs(
    request: Request, settings: SettingsDep, retried: Text | None = Query(None, max_length=36)
) -> HTMLResponse:
    """Dead jobs, each with a retry button."""
    session = require_login(request, settings)
    assert session.business_id is not None
    found = jobs.list_jobs(session.business_id, status="dead", limit=100)
    context = _context(session, "/dashboard/jobs", jobs=found.items, retried=retried)
    return page(request, "jobs.html", **context)


@router.post("/jobs/{job_id}/retry")
def retry_job(
    request: Request,
    settings: SettingsDep,
    job_id: Annotated[Text, Path(max_length=36)],
    csrf_token: Annotated[Text, Form(max_length=100)],
) -> RedirectResponse:
    """Queue a dead job again, then show the list."""
    session = require_login(request, settings)
    check_csrf(session, csrf_token)
    assert session.business_id is not None
    try:
        jobs.retry_job(session.business_id, job_id)
    except jobs.JobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except jobs.JobStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return RedirectResponse(f"/dashboard/jobs?retried={job_id}", status.HTTP_303_SEE_OTHER)


@router.get("/events", response_class=HTMLResponse)
def parked_events(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Call events of this business that could not be handled: type, id, masked call, error."""
    session = require_login(request, settings)
    assert session.business_id is not None
    events = parking.list_parked(session.business_id, limit=100)
    count = parking.count_parked(session.business_id)
    context = _context(session, "/dashboard/events", events=events, count=count)
    return page(request, "events.html", **context)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The dashboard's one stylesheet and one script."""
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers=headers)

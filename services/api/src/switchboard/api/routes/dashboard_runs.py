"""The console's outbound runs: history, the live bars, creating a run from chosen leads or an
uploaded CSV, one run with its items, start and cancel.

Routes only read the form and call the outbound domain (the same functions as
``/api/v1/outbound-runs``); a domain refusal is shown on the page with its 4xx status.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, next_cursor, not_found
from switchboard.api.dashboard.htmx import polled_login
from switchboard.api.dashboard.rendering import page
from switchboard.api.dashboard.session import check_csrf
from switchboard.api.deps import SettingsDep
from switchboard.api.pagination import decode_id_cursor, encode_cursor
from switchboard.api.schemas import Storable, Text, UrlInteger
from switchboard.api.schemas.common import MAX_IDS
from switchboard.common.errors import ConflictError, InvalidReferenceError, NotFoundError
from switchboard.common.ids import MAX_ID
from switchboard.domain.leads import store as leads
from switchboard.domain.leads.csv_import import MAX_BYTES, TOO_LARGE, RowError, errors_to_show
from switchboard.domain.outbound import console, runs

router = APIRouter(prefix="/dashboard/runs", include_in_schema=False)
RunId = Annotated[UrlInteger, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[str, Field(max_length=100), Storable] | None
CsrfToken = Annotated[Text, Form(max_length=100)]
RunName = Annotated[Text, Form(min_length=1, max_length=200, pattern=r"\S")]  # not blank
Concurrency = Annotated[UrlInteger, Form(ge=1, le=100)]
LeadId = Annotated[UrlInteger, Field(ge=1, le=MAX_ID)]
ACTIVE = "/dashboard/runs"
PAGE_SIZE = 25
ITEMS_PAGE_SIZE = 100
#: The most errors of a refused CSV the form lists (``errors_to_show``).
MAX_ERRORS_SHOWN = 50
#: What a redirect after a form says; the query names one of these, never free text.
NOTICES = {
    "created": "Run created as a draft: start it when you are ready.",
    "started": "Run started: calls are being placed.",
    "cancelled": "Run cancelled: no new call will be placed.",
}


@router.get("", response_class=HTMLResponse)
def runs_page(request: Request, settings: SettingsDep, cursor: Cursor = None) -> HTMLResponse:
    """Every run of the business, newest first, under the live bars of the active ones."""
    session, business_id = logged_in(request, settings)
    found = console.run_history(business_id, limit=PAGE_SIZE + 1, after_id=decode_id_cursor(cursor))
    more, found = len(found) > PAGE_SIZE, found[:PAGE_SIZE]
    older = encode_cursor(found[-1].view.run.id) if more and found else None
    context = layout(session, ACTIVE, history=found, next_cursor=older)
    return page(request, "runs.html", live_runs=console.live_runs(business_id), **context)


@router.get("/live", response_class=HTMLResponse)
def live_bars(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The live bars alone, polled by the pages that show them."""
    _, business_id = polled_login(request, settings)
    return page(request, "_runs.html", live_runs=console.live_runs(business_id))


def _new_run_page(
    request: Request,
    settings: SettingsDep,
    q: str | None,
    error: str | None = None,
    *,
    errors: list[RowError] | None = None,
    form: dict[str, object] | None = None,
) -> HTMLResponse:
    """The form, with ``error`` or a refused CSV's ``errors`` (422) and what was typed."""
    session, business_id = logged_in(request, settings)
    found = leads.list_leads(business_id, leads.LeadFilter(search=q), limit=100)
    context = layout(session, ACTIVE, leads=found.items, more_leads=found.next_after, q=q)
    errors = errors or []
    code = status.HTTP_200_OK if error is None and not errors else 422
    shown = errors_to_show(errors, MAX_ERRORS_SHOWN)
    return page(
        request,
        "run_new.html",
        code,
        error=error,
        errors=errors,
        shown=shown,
        form=form or {},
        **context,
    )


@router.get("/new", response_class=HTMLResponse)
def new_run(
    request: Request,
    settings: SettingsDep,
    q: Annotated[str, Field(max_length=200), Storable] | None = None,
) -> HTMLResponse:
    """The form for a new run: pick leads (searchable), or upload a CSV of leads."""
    return _new_run_page(request, settings, q)


@router.post("", response_class=HTMLResponse)
def create_from_leads(
    request: Request,
    settings: SettingsDep,
    csrf_token: CsrfToken,
    name: RunName,
    concurrency: Concurrency = 1,
    lead_ids: Annotated[list[LeadId] | None, Form(max_length=MAX_IDS)] = None,
) -> Response:
    """Create a draft run over the ticked leads, then show it."""
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    # No tick is an empty selection, never "all leads" (which ``lead_ids=None`` would mean).
    new = runs.NewRun(name=name.strip(), lead_ids=lead_ids or [], concurrency=concurrency)
    try:
        view = runs.create_run(business_id, new)
    except InvalidReferenceError as exc:
        form = {"name": name, "concurrency": concurrency}
        return _new_run_page(request, settings, None, str(exc), form=form)
    return _to_run(view.run.id, "created")


@router.post("/csv", response_class=HTMLResponse)
def create_from_csv(
    request: Request,
    settings: SettingsDep,
    csrf_token: CsrfToken,
    name: RunName,
    file: Annotated[UploadFile, File()],
    concurrency: Concurrency = 1,
) -> Response:
    """Import the uploaded CSV's leads (all rows or none) and create a draft run over them."""
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    data = file.file.read(MAX_BYTES + 1)
    form: dict[str, object] = {"name": name, "concurrency": concurrency}
    if len(data) > MAX_BYTES:
        errors = [TOO_LARGE]
        return _new_run_page(request, settings, None, None, errors=errors, form=form)
    new = runs.NewRun(name=name.strip(), concurrency=concurrency)
    try:
        made = console.create_run_from_csv(business_id, data, new)
    except InvalidReferenceError as exc:
        return _new_run_page(request, settings, None, str(exc), form=form)
    if made.view is None:
        return _new_run_page(request, settings, None, None, errors=made.errors, form=form)
    return _to_run(made.view.run.id, "created")


def _to_run(run_id: int, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/dashboard/runs/{run_id}?done={notice}", status.HTTP_303_SEE_OTHER)


def _run_page(
    request: Request,
    settings: SettingsDep,
    run_id: int,
    cursor: str | None = None,
    *,
    notice: str | None = None,
    error: str | None = None,
    code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    session, business_id = polled_login(request, settings)  # the page polls itself
    after = decode_id_cursor(cursor)
    try:
        view = runs.get_run(business_id, run_id)
        items = runs.list_items(business_id, run_id, limit=ITEMS_PAGE_SIZE + 1, after_id=after)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    more, items = len(items) > ITEMS_PAGE_SIZE, items[:ITEMS_PAGE_SIZE]
    context = layout(session, ACTIVE, view=view, items=items, notice=notice, error=error)
    context["cursor"] = cursor
    last_error = console.last_errors(business_id, [run_id]).get(run_id)
    return page(
        request,
        "run.html",
        code,
        last_error=last_error,
        next_cursor=next_cursor(items[-1].id if more and items else None),
        **context,
    )


@router.get("/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    settings: SettingsDep,
    run_id: RunId,
    cursor: Cursor = None,
    done: Annotated[Literal["created", "started", "cancelled"] | None, Query()] = None,
) -> HTMLResponse:
    """One run: its settings, progress, latest failure reason and items with their reasons."""
    notice = NOTICES[done] if done else None
    return _run_page(request, settings, run_id, cursor, notice=notice)


def _act(
    request: Request, settings: SettingsDep, run_id: int, csrf_token: str, act: str
) -> Response:
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    try:
        if act == "started":
            runs.start_run(business_id, run_id)
        else:
            runs.cancel_run(business_id, run_id)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    except ConflictError as exc:
        return _run_page(request, settings, run_id, error=str(exc), code=status.HTTP_409_CONFLICT)
    return _to_run(run_id, act)


@router.post("/{run_id}/start", response_class=HTMLResponse)
def start(
    request: Request, settings: SettingsDep, run_id: RunId, csrf_token: CsrfToken
) -> Response:
    """Start a draft run (a second start is refused with 409 and said on the page)."""
    return _act(request, settings, run_id, csrf_token, "started")


@router.post("/{run_id}/cancel", response_class=HTMLResponse)
def cancel(
    request: Request, settings: SettingsDep, run_id: RunId, csrf_token: CsrfToken
) -> Response:
    """Cancel a draft or running run: once this answers, no new call is placed for it."""
    return _act(request, settings, run_id, csrf_token, "cancelled")

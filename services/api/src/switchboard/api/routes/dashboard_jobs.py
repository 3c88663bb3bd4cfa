"""The console's jobs: the ledger filtered by state and actor, one job's detail, and retry,
cancel or discard of one job or of the jobs ticked in the list (one POST, with the form's CSRF
token). Each route parses the form, checks the session and calls one operation of the
``operations`` domain."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field

from switchboard.api.dashboard.console import layout, logged_in, not_found
from switchboard.api.dashboard.rendering import page
from switchboard.api.dashboard.session import check_csrf
from switchboard.api.deps import SettingsDep
from switchboard.api.pagination import decode_time_cursor, encode_cursor
from switchboard.api.schemas import Storable, Text, UrlInteger
from switchboard.common.errors import ConflictError, NotFoundError
from switchboard.common.jobs import service
from switchboard.common.jobs.catalog import CATALOG
from switchboard.common.random_ids import is_uuid4_str
from switchboard.domain import operations
from switchboard.domain.operations.job_browser import MAX_BULK

router = APIRouter(prefix="/dashboard/jobs", include_in_schema=False)
ACTIVE = "/dashboard/jobs"
PAGE_SIZE = 50
State = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]
Action = Literal["retry", "cancel", "discard"]
JobId = Annotated[Text, Path(min_length=1, max_length=36)]
CsrfToken = Annotated[Text, Form(max_length=100)]
Back = Annotated[Annotated[str, Field(max_length=500), Storable] | None, Form()]
TickedJob = Annotated[str, Field(min_length=1, max_length=36), Storable]  # as JobId: no NUL
ACTORS = sorted(CATALOG)


def _back_to(back: str | None, **notice: str | int) -> str:
    """The list or detail page the form came from (only ours), with the notice to show."""
    parts = urlsplit(back or ACTIVE)
    if parts.scheme or parts.netloc or not _jobs_page(parts.path):
        parts = urlsplit(ACTIVE)
    notices = ("done=", "job=", "n=", "refused=")
    kept = [kv for kv in parts.query.split("&") if kv and not kv.startswith(notices)]
    query = "&".join([*kept, urlencode(notice)])
    return f"{parts.path}?{query}"


def _jobs_page(path: str) -> bool:
    """Whether ``path`` stays under the jobs pages as a browser resolves it: no empty, ``.``
    or ``..`` segment, percent-encoded or written with backslashes (which browsers take for
    slashes) either."""
    resolved = unquote(path).replace("\\", "/")
    segments = resolved.split("/")[1:]
    return resolved.startswith(ACTIVE) and not {"", ".", ".."} & set(segments)


@router.get("", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    settings: SettingsDep,
    state: Annotated[Literal[State, ""] | None, Query()] = None,  # one literal: one reason
    actor: Annotated[str, Field(max_length=100), Storable] | None = None,
    cursor: Annotated[str, Field(max_length=200), Storable] | None = None,
    done: Annotated[Action | Literal["none"] | None, Query()] = None,
    job: Annotated[str, Field(max_length=36), Storable] | None = None,
    n: Annotated[UrlInteger | None, Query(ge=0, le=MAX_BULK)] = None,
    refused: Annotated[UrlInteger | None, Query(ge=0, le=MAX_BULK)] = None,
) -> HTMLResponse:
    """The business's jobs, newest first, filtered by state and actor, with bulk actions."""
    session, business_id = logged_in(request, settings)
    where = operations.JobFilter(state or None, (actor or "").strip() or None)
    found = service.list_jobs(
        business_id,
        status=where.state,
        actor=where.actor,
        limit=PAGE_SIZE,
        after=decode_time_cursor(cursor),
    )
    more = encode_cursor(*found.next_cursor) if found.next_cursor else None
    notice = {"done": done, "job": _named_job(business_id, job), "n": n, "refused": refused}
    context = layout(session, ACTIVE, jobs=found.items, where=where, next_cursor=more, **notice)
    return page(request, "jobs.html", states=operations.STATES, actors=ACTORS, **context)


def _named_job(business_id: int, job_id: str | None) -> str | None:
    """The job a notice may name: ``job_id`` if it is an id as job ids are made (a UUID's
    text) of one of the business's jobs, else None (the notice is said without it). The query
    is anyone's to write: a link's ``?done=cancel&job=<any 36 characters>`` was shown as a
    job the console had cancelled."""
    if job_id is None or not is_uuid4_str(job_id):
        return None
    try:
        service.get_job(business_id, job_id)
    except NotFoundError:
        return None  # another business's, or gone (discarded)
    return job_id


@router.get("/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request,
    settings: SettingsDep,
    job_id: JobId,
    done: Annotated[Action | None, Query()] = None,
) -> HTMLResponse:
    """One job: masked arguments, attempts, its error and traceback, its timeline."""
    session, business_id = logged_in(request, settings)
    try:
        detail = operations.job_detail(business_id, job_id)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    context = layout(session, ACTIVE, detail=detail, job=detail.job, done=done)
    return page(request, "job.html", **context)


@router.post("/bulk")
def bulk_action(
    request: Request,
    settings: SettingsDep,
    csrf_token: CsrfToken,
    action: Annotated[Action, Form()],
    job_id: Annotated[list[TickedJob] | None, Form(max_length=MAX_BULK)] = None,
    back: Back = None,
) -> RedirectResponse:
    """Retry, cancel or discard every ticked job; say how many were done and refused."""
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    if not job_id:
        return RedirectResponse(_back_to(back, done="none"), status.HTTP_303_SEE_OTHER)
    outcome = operations.act_on_jobs(business_id, action, job_id)
    target = _back_to(back, done=action, n=len(outcome.done), refused=len(outcome.refused))
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


@router.post("/{job_id}/{action}")
def job_action(
    request: Request,
    settings: SettingsDep,
    job_id: JobId,
    action: Annotated[Action, Path()],
    csrf_token: CsrfToken,
    back: Back = None,
) -> RedirectResponse:
    """Retry, cancel or discard one job, then show the page the form came from."""
    session, business_id = logged_in(request, settings)
    check_csrf(session, csrf_token)
    try:
        operations.act_on_job(business_id, action, job_id)
    except NotFoundError as exc:
        raise not_found(exc) from exc
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    if action == "discard" and back and back.startswith(f"{ACTIVE}/{job_id}"):
        back = ACTIVE  # its page is gone with it
    target = _back_to(back, done=action, job=job_id)
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)

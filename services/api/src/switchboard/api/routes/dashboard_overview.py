"""The console's live pages: the overview (figures and charts of the last hour), the queues
and the workers. Each page is rendered whole on a visit; htmx then polls the same URL and gets
back only the part that moves (``HX-Request``), which it swaps in place."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from switchboard.api.dashboard.console import layout
from switchboard.api.dashboard.htmx import is_htmx, polled_login
from switchboard.api.dashboard.rendering import page
from switchboard.api.deps import SettingsDep
from switchboard.domain import operations

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Live calls, job outcomes and queue latency per minute over the last hour, queues."""
    session, business_id = polled_login(request, settings)
    figures = operations.overview(business_id)
    series = operations.job_series(business_id)
    live: dict[str, Any] = {
        "overview": figures,
        "series": series.as_json(),
        "total": series.total_finished,
    }
    if is_htmx(request):
        return page(request, "_overview_live.html", **live)
    context = layout(session, "/dashboard", **live)  # the runs' bars load themselves
    return page(request, "overview.html", **context)


@router.get("/queues", response_class=HTMLResponse)
def queues(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Each queue's depth, running jobs, oldest waiting job and throughput (last 5 min)."""
    session, business_id = polled_login(request, settings)
    rows = operations.queue_rows(business_id)
    if is_htmx(request):
        return page(request, "_queues_live.html", queues=rows)
    return page(request, "queues.html", queues=rows, **layout(session, "/dashboard/queues"))


@router.get("/workers", response_class=HTMLResponse)
def workers(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Worker processes from their heartbeats, with the business's jobs each is running."""
    session, business_id = polled_login(request, settings)
    rows = operations.worker_rows(business_id)
    if is_htmx(request):
        return page(request, "_workers_live.html", workers=rows)
    return page(request, "workers.html", workers=rows, **layout(session, "/dashboard/workers"))

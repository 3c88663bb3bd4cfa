"""The console's live pages are polled by htmx: a poll wants a fragment back, and a poll whose
session has ended must move the whole page to the login form, not swap it into a corner."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from switchboard.api.dashboard.console import logged_in
from switchboard.api.dashboard.session import DashboardSession
from switchboard.common.settings import Settings

LOGIN = "/dashboard/login"


def is_htmx(request: Request) -> bool:
    """The request is htmx's (a poll or a swap), which wants a fragment back."""
    return request.headers.get("HX-Request") == "true"


def polled_login(request: Request, settings: Settings) -> tuple[DashboardSession, int]:
    """:func:`logged_in`, except that htmx is told to load the login page (``HX-Redirect``)."""
    try:
        return logged_in(request, settings)
    except HTTPException as exc:
        if not is_htmx(request):
            raise
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="log in", headers={"HX-Redirect": LOGIN}
        ) from exc

"""What every console page needs: the logged-in business (checked before a form's body is
read, ``login_first``), the context base.html reads and its sections (``NAV``, the section a
path is in), the next page's cursor and the 404 of a row that is not the business's."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from switchboard.api.dashboard.session import DashboardSession, require_login
from switchboard.api.pagination import encode_cursor
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.businesses import settings as business_settings


def logged_in(request: Request, settings: Settings) -> tuple[DashboardSession, int]:
    """The logged-in session and its business id, or a redirect to the login page."""
    session = require_login(request, settings)
    assert session.business_id is not None  # require_login lets no other session through
    return session, session.business_id


#: The console's sections, as its navigation lists them: (path, label).
NAV = (
    ("/dashboard", "Overview"),
    ("/dashboard/queues", "Queues"),
    ("/dashboard/workers", "Workers"),
    ("/dashboard/jobs", "Jobs"),
    ("/dashboard/runs", "Outbound runs"),
    ("/dashboard/calls", "Calls"),
    ("/dashboard/conversations", "Conversations"),
    ("/dashboard/leads", "Leads"),
    ("/dashboard/events", "Parked events"),
    ("/dashboard/erasures", "Erasures"),
    ("/dashboard/sandbox", "Sandbox"),
)


def section(path: str) -> tuple[str, str]:
    """The section ``path`` is in (its list page and label), the overview if none is."""
    within = [(href, label) for href, label in NAV if path == href or path.startswith(href + "/")]
    return max(within, default=NAV[0], key=lambda entry: len(entry[0]))


#: The console's forms a visitor posts without a session: every other one needs a login.
OPEN_FORMS = frozenset({"/dashboard/login", "/dashboard/logout"})


async def login_first(request: Request) -> None:
    """:func:`logged_in`'s check, before a console form's body is read
    (``api.credentials_first``): without a session, the redirect to the login page."""
    await run_in_threadpool(logged_in, request, get_settings())


def layout(session: DashboardSession, active: str, **extra: Any) -> dict[str, Any]:
    """What base.html reads (the business, the CSRF token, the current nav entry), and more."""
    assert session.business_id is not None
    business = business_settings.own_settings(session.business_id).business
    return {"business": business, "csrf_token": session.csrf_token, "active": active, **extra}


def next_cursor(next_after: int | None) -> str | None:
    """The cursor of the next page, if there is one."""
    return encode_cursor(next_after) if next_after is not None else None


def not_found(exc: Exception) -> HTTPException:
    """The 404 of a row this business does not have."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))

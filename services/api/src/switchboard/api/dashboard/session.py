"""The dashboard's session: a signed cookie holding the business id, a CSRF token and, once
logged in, the token of a session recorded in the database.

The cookie is ``HttpOnly`` and ``SameSite=Strict`` (no cross-site request carries it),
``Secure`` wherever the console is reached over https (:func:`over_https`), and
every POST form also carries the session's CSRF token, compared in constant time. A signature
alone logs nobody in: every page checks the recorded session, which logout deletes, so a
cookie replayed after logout (or after its API key was revoked) opens nothing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, Request, Response, status
from itsdangerous import BadSignature, URLSafeTimedSerializer

from switchboard.common.settings import Settings
from switchboard.domain.businesses.dashboard_sessions import (
    dashboard_session_is_live,
    end_dashboard_session,
    open_dashboard_session,
)

COOKIE = "sb_dashboard"
MAX_AGE_S = 12 * 3600
_SALT = "switchboard.dashboard.session"


@dataclass(frozen=True)
class DashboardSession:
    """Who is logged in (None before login) and the token every form must echo."""

    business_id: int | None
    csrf_token: str
    #: The API key the session was opened with; revoking it ends the session.
    api_key_id: int | None = None
    #: The recorded session's token (None before login); logout deletes the record.
    token: str | None = None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt=_SALT)


def read_session(request: Request, settings: Settings) -> DashboardSession | None:
    """The session in the request's cookie, if it is ours, intact and not expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    business_id, key_id, token = data.get("b"), data.get("k"), data.get("s")
    return DashboardSession(
        business_id if isinstance(business_id, int) else None,
        data["csrf"],
        key_id if isinstance(key_id, int) else None,
        token if isinstance(token, str) else None,
    )


def new_session() -> DashboardSession:
    """A fresh session before login: a new CSRF token for the login form, nobody logged in."""
    return DashboardSession(None, secrets.token_urlsafe(32))


def start_session(business_id: int, api_key_id: int) -> DashboardSession:
    """Record a logged-in session for the business and return it, with a new CSRF token."""
    token = open_dashboard_session(business_id, api_key_id, timedelta(seconds=MAX_AGE_S))
    return DashboardSession(business_id, secrets.token_urlsafe(32), api_key_id, token)


def end_session(session: DashboardSession | None) -> None:
    """Delete the session's record, so its cookie is worth nothing from now on."""
    if session is not None and session.business_id is not None and session.token is not None:
        end_dashboard_session(session.business_id, session.token)


def over_https(request: Request, settings: Settings) -> bool:
    """The console is reached over https: in production, when the request came over https, or
    when the API's public address (API_PUBLIC_BASE_URL, the console's) is https; then the
    cookie is ``Secure`` and no plain-http request to the host ever carries it."""
    public = settings.api_public_base_url or settings.api_base_url
    return (
        settings.environment == "production"
        or request.url.scheme == "https"
        or public.lower().startswith("https://")
    )


def write_session(
    request: Request, response: Response, session: DashboardSession, settings: Settings
) -> None:
    """Set the signed session cookie on ``response`` (the answer to ``request``)."""
    value = _serializer(settings).dumps(
        {
            "b": session.business_id,
            "k": session.api_key_id,
            "s": session.token,
            "csrf": session.csrf_token,
        }
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_S,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=over_https(request, settings),
    )


def is_logged_in(session: DashboardSession | None) -> bool:
    """A session counts while its record lives: not logged out, not expired, key not revoked."""
    return (
        session is not None
        and session.business_id is not None
        and session.token is not None
        and dashboard_session_is_live(session.business_id, session.token)
    )


def require_login(request: Request, settings: Settings) -> DashboardSession:
    """The logged-in session, or a redirect to the login page."""
    session = read_session(request, settings)
    if session is None or not is_logged_in(session):
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, detail="log in", headers={"Location": "/dashboard/login"}
        )
    return session


def check_csrf(session: DashboardSession | None, submitted: str) -> None:
    """Refuse a form whose CSRF token is not the session's (compared as bytes: any
    character may arrive, and ``compare_digest`` refuses non-ASCII ``str``)."""
    if session is None or not hmac.compare_digest(
        session.csrf_token.encode(), submitted.encode("utf-8", "surrogatepass")
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid or missing CSRF token")

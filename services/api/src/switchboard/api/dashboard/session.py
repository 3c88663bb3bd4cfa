"""The dashboard's session: a signed cookie holding the business id and a CSRF token.

The cookie is ``HttpOnly`` and ``SameSite=Strict`` (no cross-site request carries it), and
every POST form also carries the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response, status
from itsdangerous import BadSignature, URLSafeTimedSerializer

from switchboard.common.settings import Settings
from switchboard.domain.businesses.accounts import api_key_is_live

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
    business_id, key_id = data.get("b"), data.get("k")
    return DashboardSession(
        business_id if isinstance(business_id, int) else None,
        data["csrf"],
        key_id if isinstance(key_id, int) else None,
    )


def new_session(business_id: int | None, api_key_id: int | None = None) -> DashboardSession:
    """A fresh session with a new CSRF token (issued again at login and logout)."""
    return DashboardSession(business_id, secrets.token_urlsafe(32), api_key_id)


def write_session(response: Response, session: DashboardSession, settings: Settings) -> None:
    """Set the signed session cookie on ``response``."""
    value = _serializer(settings).dumps(
        {"b": session.business_id, "k": session.api_key_id, "csrf": session.csrf_token}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_S,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
    )


def is_logged_in(session: DashboardSession | None) -> bool:
    """A session counts while the API key it was opened with is still live."""
    return (
        session is not None
        and session.business_id is not None
        and session.api_key_id is not None
        and api_key_is_live(session.api_key_id, session.business_id)
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
    """Refuse a form whose CSRF token is not the session's."""
    if session is None or not hmac.compare_digest(session.csrf_token, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid or missing CSRF token")

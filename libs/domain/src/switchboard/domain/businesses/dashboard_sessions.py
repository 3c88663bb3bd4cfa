"""Dashboard sessions: opened with a live API key, checked on every page, ended by logout.

The cookie carries a random token; the database keeps only its SHA-256, with the API key the
session was opened with and when it expires. A session is live while its row exists, has not
expired and its key is not revoked, so logging out (the row is deleted) or revoking the key
ends it in every API process at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import ApiKey, DashboardSession


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def open_dashboard_session(business_id: int, api_key_id: int, lifetime: timedelta) -> str:
    """Record a new session for ``business_id`` and return its token (for the cookie only).

    The business's expired sessions are deleted on the way: logins are rare, so this keeps
    the table to the sessions that could still be used.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with tenant_session(business_id) as session:
        session.execute(
            delete(DashboardSession).where(
                DashboardSession.business_id == business_id, DashboardSession.expires_at <= now
            )
        )
        session.add(
            DashboardSession(
                business_id=business_id,
                api_key_id=api_key_id,
                token_hash=_hash(token),
                expires_at=now + lifetime,
            )
        )
    return token


def dashboard_session_is_live(business_id: int, token: str) -> bool:
    """True while the session exists, has not expired and its API key is not revoked."""
    with tenant_session(business_id) as session:
        found = session.execute(
            select(DashboardSession.id)
            .join(ApiKey, ApiKey.id == DashboardSession.api_key_id)
            .where(
                DashboardSession.business_id == business_id,
                DashboardSession.token_hash == _hash(token),
                DashboardSession.expires_at > utcnow(),
                ApiKey.business_id == business_id,
                ApiKey.revoked_at.is_(None),
            )
        ).first()
    return found is not None


def end_dashboard_session(business_id: int, token: str) -> None:
    """Delete the session: its cookie opens nothing from now on, in any process."""
    with tenant_session(business_id) as session:
        session.execute(
            delete(DashboardSession).where(
                DashboardSession.business_id == business_id,
                DashboardSession.token_hash == _hash(token),
            )
        )

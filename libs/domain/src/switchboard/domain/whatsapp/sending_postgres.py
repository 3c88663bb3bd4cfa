"""Claiming and recording a WhatsApp send on PostgreSQL: one function call each (migration 0007).

Each runs on an autocommit connection; the functions switch to the application role and set
the tenant themselves, so row-level security holds. ``sending.py`` keeps the portable path and
decides what the returned state means.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import autocommit_connection
from switchboard.common.settings import get_settings

_CLAIM = text(
    "SELECT * FROM switchboard_whatsapp_claim_send("
    ":role, :business_id, :message_id, :sending, :now)"
)
_RECORD = text(
    "SELECT switchboard_whatsapp_record_send("
    ":role, :business_id, :message_id, :status, :sid, :error, :now)"
)

#: (state, contact number, business number, body, when an unsettled attempt began)
Claim = tuple[str, str | None, str | None, str | None, datetime | None]


def claim(business_id: int, message_id: int, sending: str) -> Claim:
    """``state`` is ``claimed``, ``settled`` (sent or failed), ``missing`` or ``not_outbound``."""
    with autocommit_connection() as conn:
        state, contact, number, body, unsettled_since = conn.execute(
            _CLAIM,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "message_id": message_id,
                "sending": sending,
                "now": utcnow(),
            },
        ).one()
    return state, contact, number, body, unsettled_since


def record(
    business_id: int, message_id: int, status: str, sid: str | None, error: str | None
) -> bool:
    """Write the outcome on the message; False if the business has no such message."""
    with autocommit_connection() as conn:
        found = conn.execute(
            _RECORD,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "message_id": message_id,
                "status": status,
                "sid": sid,
                "error": error,
                "now": utcnow(),
            },
        ).scalar_one()
    return bool(found)

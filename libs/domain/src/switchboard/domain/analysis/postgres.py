"""A WhatsApp chat's analysis on PostgreSQL: one function call per unit of work (migration 0008).

Each runs on an autocommit connection; the functions switch to the application role and set
the tenant themselves, so row-level security holds. ``analysis.py`` keeps the portable path.
"""

from __future__ import annotations

from sqlalchemy import text

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import autocommit_connection
from switchboard.common.integrations.ai_text import LeadFields
from switchboard.common.settings import get_settings

_CHAT = text(
    "SELECT * FROM switchboard_chat_for_analysis(:role, :business_id, :conversation_id, :now)"
)
_APPLY = text(
    "SELECT switchboard_apply_lead_fields("
    ":role, :business_id, :lead_id, :name, :email, :intent, :status, :now)"
)


def chat(business_id: int, conversation_id: int) -> tuple[int, list[tuple[str, str]]] | None:
    """(the lead's id, the messages as (direction, body) in order); None if not this business's."""
    with autocommit_connection() as conn:
        found, lead_id, directions, bodies = conn.execute(
            _CHAT,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "conversation_id": conversation_id,
                "now": utcnow(),
            },
        ).one()
    if not found:
        return None
    return int(lead_id), list(zip(directions, bodies, strict=True))


def apply_fields(business_id: int, lead_id: int, fields: LeadFields) -> bool:
    """Write what the analysis learnt on the lead; False if the business has no such lead."""
    with autocommit_connection() as conn:
        found = conn.execute(
            _APPLY,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "lead_id": lead_id,
                "name": fields.name,
                "email": fields.email,
                "intent": fields.intent,
                "status": fields.status,
                "now": utcnow(),
            },
        ).scalar_one()
    return bool(found)

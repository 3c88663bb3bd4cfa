"""A WhatsApp chat's analysis on PostgreSQL: one function call per unit of work (migration 0008)."""

from __future__ import annotations

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import call_function
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import LeadFields
from switchboard.domain.analysis.conversations import AnalysisStore, Conversation, transcript

_CHAT = "SELECT * FROM switchboard_chat_for_analysis(:role, :business_id, :conversation_id, :now)"
_APPLY = (
    "SELECT switchboard_apply_lead_fields("
    ":role, :business_id, :lead_id, :name, :email, :intent, :status, :now)"
)


class PostgresAnalysisStore(AnalysisStore):
    """The chat's reading and the lead's writing as calls of migration 0008's functions."""

    def __init__(self, app_role: str) -> None:
        self._app_role = app_role

    def chat(self, business_id: int, conversation_id: int) -> Conversation:
        """The chat's transcript and its lead."""
        found, lead_id, directions, bodies = call_function(
            _CHAT,
            {
                "role": self._app_role,
                "business_id": business_id,
                "conversation_id": conversation_id,
                "now": utcnow(),
            },
        )
        if not found:
            raise NotFoundError(
                f"WhatsAppConversation {conversation_id} not found for business {business_id}"
            )
        return Conversation(int(lead_id), transcript(zip(directions, bodies, strict=True)))

    def apply_fields(self, business_id: int, lead_id: int, fields: LeadFields) -> None:
        """Write ``fields`` on the lead."""
        (found,) = call_function(
            _APPLY,
            {
                "role": self._app_role,
                "business_id": business_id,
                "lead_id": lead_id,
                "name": fields.name,
                "email": fields.email,
                "intent": fields.intent,
                "status": fields.status,
                "now": utcnow(),
            },
        )
        if not found:
            raise NotFoundError(f"Lead {lead_id} not found for business {business_id}")

"""Conversation analysis: what a call or a WhatsApp chat tells us about the lead.

Two units of work with the AI's extraction between them. On PostgreSQL a chat's are one
function call each (``analysis_postgres.py``); calls, and everything on SQLite, use the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.engine import get_engine
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.tenant_rows import ForeignOrMissingRow, owned_row
from switchboard.common.integrations.ai_text import AIText, LeadFields
from switchboard.common.logging import get_logger
from switchboard.common.models import CallLog, Lead, WhatsAppConversation, WhatsAppMessage
from switchboard.domain.analysis import postgres as analysis_postgres
from switchboard.domain.calls.logs import caller_number
from switchboard.domain.leads.store import upsert_lead

log = get_logger(__name__)

_LABELS = {"caller": "Customer", "agent": "Agent", "in": "Customer", "out": "Agent"}


@dataclass(frozen=True)
class Conversation:
    """The text to analyse and the lead it is about."""

    lead_id: int | None
    transcript: str


def _call_conversation(session: Session, business_id: int, call_log_id: int) -> Conversation:
    call_log = owned_row(session, CallLog, business_id, call_log_id)
    lines = [
        f"{_LABELS.get(str(turn.get('role')), 'Recording')}: {turn.get('text', '')}"
        for turn in call_log.transcript or []
    ]
    lead_id = call_log.lead_id
    phone = caller_number(call_log)
    if lead_id is None and phone:
        lead_id = upsert_lead(session, business_id, phone, source="call")[0].id
        call_log.lead_id = lead_id
    return Conversation(lead_id, "\n".join(lines))


def _chat_conversation(session: Session, business_id: int, conversation_id: int) -> Conversation:
    conversation = owned_row(session, WhatsAppConversation, business_id, conversation_id)
    bodies = session.execute(
        select(WhatsAppMessage.direction, WhatsAppMessage.body)
        .where(
            WhatsAppMessage.business_id == business_id,
            WhatsAppMessage.conversation_id == conversation_id,
        )
        .order_by(WhatsAppMessage.id)
    ).all()
    if conversation.lead_id is None:
        lead, _ = upsert_lead(session, business_id, conversation.contact_number, source="whatsapp")
        conversation.lead_id = lead.id
    return Conversation(conversation.lead_id, _transcript(bodies))


def _transcript(messages: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"{_LABELS[direction]}: {body}" for direction, body in messages)


def _apply(lead: Lead, fields: LeadFields) -> None:
    if fields.name and not lead.name:
        lead.name = fields.name
    if fields.email and not lead.email:
        lead.email = fields.email
    lead.intent = fields.intent
    if fields.status != "new":
        lead.status = fields.status


def analyze_conversation(
    business_id: int,
    ai: AIText,
    *,
    conversation_id: int | None = None,
    call_log_id: int | None = None,
) -> LeadFields | None:
    """Extract name, e-mail, intent and status from a call or chat into the lead's fields."""
    if (conversation_id is None) == (call_log_id is None):
        raise ForeignOrMissingRow("give exactly one of conversation_id and call_log_id")
    on_postgres = get_engine().dialect.name == "postgresql"
    if on_postgres and conversation_id is not None:
        chat = analysis_postgres.chat(business_id, conversation_id)
        if chat is None:
            raise ForeignOrMissingRow(
                f"WhatsAppConversation {conversation_id} not found for business {business_id}"
            )
        conversation = Conversation(chat[0], _transcript(chat[1]))
    else:
        with tenant_session(business_id) as session:
            if call_log_id is not None:
                conversation = _call_conversation(session, business_id, call_log_id)
            else:
                assert conversation_id is not None
                conversation = _chat_conversation(session, business_id, conversation_id)
    if conversation.lead_id is None or not conversation.transcript.strip():
        return None
    fields = ai.extract_lead_fields(conversation.transcript)
    if on_postgres:
        if not analysis_postgres.apply_fields(business_id, conversation.lead_id, fields):
            raise ForeignOrMissingRow(
                f"Lead {conversation.lead_id} not found for business {business_id}"
            )
    else:
        with tenant_session(business_id) as session:
            _apply(owned_row(session, Lead, business_id, conversation.lead_id, lock=True), fields)
    log.info(
        "analysis.lead_updated",
        business_id=business_id,
        lead_id=conversation.lead_id,
        intent=fields.intent,
        status=fields.status,
    )
    return fields

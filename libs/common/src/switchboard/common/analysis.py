"""Conversation analysis: what a call or a WhatsApp chat tells us about the lead."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.calls import caller_number
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.ai_text import AIText, LeadFields
from switchboard.common.leads import upsert_lead
from switchboard.common.logging import get_logger
from switchboard.common.models import CallLog, Lead, WhatsAppConversation, WhatsAppMessage
from switchboard.common.tenant_rows import ForeignOrMissingRow, owned_row

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
    lines = [f"{_LABELS[row.direction]}: {row.body}" for row in bodies]
    return Conversation(conversation.lead_id, "\n".join(lines))


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
    with tenant_session(business_id) as session:
        if call_log_id is not None:
            conversation = _call_conversation(session, business_id, call_log_id)
        else:
            assert conversation_id is not None
            conversation = _chat_conversation(session, business_id, conversation_id)
    if conversation.lead_id is None or not conversation.transcript.strip():
        return None
    fields = ai.extract_lead_fields(conversation.transcript)
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

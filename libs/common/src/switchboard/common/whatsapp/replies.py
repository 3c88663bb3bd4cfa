"""The agent's reply to an inbound WhatsApp message: generated, stored and queued for sending."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.ai_text import AIText, ChatTurn
from switchboard.common.jobs import enqueue_job, enqueue_unique
from switchboard.common.leads import upsert_lead
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.common.prompts import prompt_for
from switchboard.common.tenant_rows import ForeignOrMissingRow, owned_row
from switchboard.common.whatsapp.concurrency import BusinessAtLimit, business_is_busy
from switchboard.common.whatsapp.sessions import touch_session

log = get_logger(__name__)

HISTORY_LENGTH = 20


@dataclass(frozen=True)
class _Context:
    conversation_id: int
    prompt: str
    history: list[ChatTurn]


def _context(business_id: int, message_id: int) -> _Context | None:
    with tenant_session(business_id) as session:
        inbound = owned_row(session, WhatsAppMessage, business_id, message_id)
        if inbound.direction != "in":
            raise ForeignOrMissingRow(f"message {message_id} is not an inbound message")
        if inbound.status == "replied":
            return None
        if business_is_busy(session, business_id):
            raise BusinessAtLimit(f"business {business_id} at its WhatsApp concurrency limit")
        conversation = owned_row(
            session, WhatsAppConversation, business_id, inbound.conversation_id
        )
        if conversation.lead_id is None:
            lead, _ = upsert_lead(
                session, business_id, conversation.contact_number, source="whatsapp"
            )
            conversation.lead_id = lead.id
        touch_session(session, business_id, conversation.id)
        rows = session.execute(
            select(WhatsAppMessage.direction, WhatsAppMessage.body)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.conversation_id == conversation.id,
                WhatsAppMessage.id <= message_id,
            )
            .order_by(WhatsAppMessage.id.desc())
            .limit(HISTORY_LENGTH)
        ).all()
        history = [
            ChatTurn("user" if row.direction == "in" else "assistant", row.body)
            for row in reversed(rows)
        ]
        return _Context(conversation.id, prompt_for(session, business_id, "whatsapp"), history)


def reply_to_inbound(business_id: int, message_id: int, ai: AIText) -> int | None:
    """Answer the inbound message; returns the queued reply's id (None if already answered).

    Raises :class:`BusinessAtLimit`, having written nothing, when the business already runs
    as many replies as it allows; the check shares the reply's first transaction.
    """
    context = _context(business_id, message_id)
    if context is None:
        return None
    text = ai.reply(context.prompt, context.history)
    with tenant_session(business_id) as session:
        inbound = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
        if inbound.status == "replied":  # a concurrent delivery won
            return None
        reply = WhatsAppMessage(
            business_id=business_id,
            conversation_id=context.conversation_id,
            direction="out",
            body=text,
            status="queued",
            attempts=0,
        )
        session.add(reply)
        inbound.status = "replied"
        session.flush()
        enqueue_job(
            "whatsapp_send",
            "send_whatsapp_with_retry_job",
            business_id=business_id,
            message_id=reply.id,
        )
        enqueue_unique(
            "analysis",
            "analyze_conversation_job",
            f"analyze-chat:{business_id}:{context.conversation_id}",
            business_id=business_id,
            conversation_id=context.conversation_id,
        )
        log.info("whatsapp.reply_queued", business_id=business_id, message_id=reply.id)
        return reply.id

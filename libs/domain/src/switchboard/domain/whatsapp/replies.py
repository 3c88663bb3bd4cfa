"""The agent's reply to an inbound WhatsApp message: generated, stored and queued for sending.

Two units of work with the reply's generation between them (an AI call holds no transaction).
On PostgreSQL each is one function call (``replies_postgres.py``); the ORM path here is the
portable one, used on SQLite.
"""

from __future__ import annotations

from sqlalchemy import select

from switchboard.common.db.engine import get_engine
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.tenant_rows import ForeignOrMissingRow, owned_row
from switchboard.common.integrations.ai_text import AIText, ChatTurn
from switchboard.common.jobs import enqueue_job, enqueue_unique
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.domain.businesses.prompts import prompt_for
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.whatsapp import replies_postgres
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit, business_is_busy
from switchboard.domain.whatsapp.reply_context import HISTORY_LENGTH, ReplyContext
from switchboard.domain.whatsapp.sessions import touch_session

log = get_logger(__name__)

SEND_QUEUE, SEND_ACTOR = "whatsapp_send", "send_whatsapp_with_retry_job"
ANALYSIS_QUEUE, ANALYSIS_ACTOR = "analysis", "analyze_conversation_job"


def _analysis_key(business_id: int, conversation_id: int) -> str:
    return f"analyze-chat:{business_id}:{conversation_id}"


def _context(business_id: int, message_id: int) -> ReplyContext | None:
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
        return ReplyContext(conversation.id, prompt_for(session, business_id, "whatsapp"), history)


def reply_to_inbound(business_id: int, message_id: int, ai: AIText) -> int | None:
    """Answer the inbound message; returns the queued reply's id (None if already answered).

    Raises :class:`BusinessAtLimit`, having written nothing, when the business already runs
    as many replies as it allows; the check shares the reply's first transaction.
    """
    on_postgres = get_engine().dialect.name == "postgresql"
    if on_postgres:
        context = replies_postgres.context(business_id, message_id, HISTORY_LENGTH)
    else:
        context = _context(business_id, message_id)
    if context is None:
        return None
    text = ai.reply(context.prompt, context.history)
    if on_postgres:
        reply_id = replies_postgres.store(
            business_id,
            message_id,
            context,
            text,
            prepare_job(SEND_QUEUE, SEND_ACTOR, (), {"message_id": 0}, business_id=business_id),
            prepare_job(
                ANALYSIS_QUEUE,
                ANALYSIS_ACTOR,
                (),
                {"conversation_id": context.conversation_id},
                business_id=business_id,
                dedup_key=_analysis_key(business_id, context.conversation_id),
            ),
        )
    else:
        reply_id = _store(business_id, message_id, context, text)
    if reply_id is not None:
        log.info("whatsapp.reply_queued", business_id=business_id, message_id=reply_id)
    return reply_id


def _store(business_id: int, message_id: int, context: ReplyContext, text: str) -> int | None:
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
        enqueue_job(SEND_QUEUE, SEND_ACTOR, business_id=business_id, message_id=reply.id)
        enqueue_unique(
            ANALYSIS_QUEUE,
            ANALYSIS_ACTOR,
            _analysis_key(business_id, context.conversation_id),
            business_id=business_id,
            conversation_id=context.conversation_id,
        )
        return reply.id

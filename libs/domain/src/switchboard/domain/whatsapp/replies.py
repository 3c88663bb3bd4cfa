"""The agent's reply to an inbound WhatsApp message: generated, stored and queued for sending.

Two units of work with the reply's generation between them (an AI call holds no transaction),
each a method of the :class:`ReplyStore` port. :class:`OrmReplyStore` is the portable adapter
(SQLAlchemy's ORM, on SQLite and PostgreSQL alike); the worker's bootstrap gives PostgreSQL
one that makes each unit of work one function call.
"""

from __future__ import annotations

import abc

from sqlalchemy import select

from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import AIText, ChatTurn
from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION, SEND_WHATSAPP_WITH_RETRY
from switchboard.common.jobs.enqueue import PreparedJob, enqueue_prepared, prepare_job
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.domain.businesses.prompts import prompt_for
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit, business_is_busy
from switchboard.domain.whatsapp.reply_context import HISTORY_LENGTH, ReplyContext
from switchboard.domain.whatsapp.sessions import touch_session

log = get_logger(__name__)


class ReplyStore(abc.ABC):
    """Where a reply reads what it answers and is stored with the jobs it brings."""

    @abc.abstractmethod
    def context(self, business_id: int, message_id: int) -> ReplyContext | None:
        """What the reply needs; None if the message is answered already.

        Finds or creates the conversation's lead and touches its session. Raises
        ``NotFoundError`` for another business's message or one that is not inbound, and
        :class:`BusinessAtLimit`, having written nothing, when the business already runs as
        many replies as it allows.
        """

    @abc.abstractmethod
    def store(
        self, business_id: int, message_id: int, context: ReplyContext, body: str
    ) -> int | None:
        """Store the reply, mark the inbound message replied and enqueue the reply's jobs
        (:func:`reply_jobs`), in one transaction; the reply's id, or None if a concurrent
        delivery answered the message first."""


def analysis_key(business_id: int, conversation_id: int) -> str:
    """The key that keeps one analysis of a conversation queued or running at a time."""
    return f"analyze-chat:{business_id}:{conversation_id}"


def reply_jobs(
    business_id: int, conversation_id: int, reply_id: int
) -> tuple[PreparedJob, PreparedJob]:
    """The jobs a stored reply brings: its send, and the conversation's analysis unless one is
    still to run (unique by :func:`analysis_key`)."""
    return (
        prepare_job(SEND_WHATSAPP_WITH_RETRY, business_id=business_id, message_id=reply_id),
        prepare_job(
            ANALYZE_CONVERSATION,
            business_id=business_id,
            key=analysis_key(business_id, conversation_id),
            conversation_id=conversation_id,
        ),
    )


def reply_to_inbound(
    business_id: int, message_id: int, ai: AIText, store: ReplyStore
) -> int | None:
    """Answer the inbound message; returns the queued reply's id (None if already answered).

    Raises :class:`BusinessAtLimit`, having written nothing, when the business already runs
    as many replies as it allows; the check shares the reply's first transaction.
    """
    context = store.context(business_id, message_id)
    if context is None:
        return None
    reply_id = store.store(
        business_id, message_id, context, ai.reply(context.prompt, context.history)
    )
    if reply_id is not None:
        log.info("whatsapp.reply_queued", business_id=business_id, message_id=reply_id)
    return reply_id


class OrmReplyStore(ReplyStore):
    """The two units of work through the ORM, in ``tenant_session`` transactions."""

    def context(self, business_id: int, message_id: int) -> ReplyContext | None:
        """What the reply needs; None if the message is answered already."""
        with tenant_session(business_id) as session:
            inbound = owned_row(session, WhatsAppMessage, business_id, message_id)
            if inbound.direction != "in":
                raise NotFoundError(f"message {message_id} is not an inbound message")
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
            prompt = prompt_for(session, business_id, "whatsapp")
            return ReplyContext(conversation.id, prompt, history)

    def store(
        self, business_id: int, message_id: int, context: ReplyContext, body: str
    ) -> int | None:
        """Store the reply and enqueue its jobs; None if already answered."""
        with tenant_session(business_id) as session:
            inbound = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if inbound.status == "replied":  # a concurrent delivery won
                return None
            reply = WhatsAppMessage(
                business_id=business_id,
                conversation_id=context.conversation_id,
                direction="out",
                body=body,
                status="queued",
                attempts=0,
            )
            session.add(reply)
            inbound.status = "replied"
            session.flush()
            for job in reply_jobs(business_id, context.conversation_id, reply.id):
                enqueue_prepared(job)
            return reply.id

"""The agent's reply to an inbound WhatsApp message: generated, stored, and sent by its job.

Two units of work with the model's answer between them (an AI call holds no transaction),
each a method of the :class:`ReplyStore` port. One model call gives the reply and what the
conversation tells about the lead (``AIText.answer``): the second unit of work stores the
reply, writes the lead's fields, and leaves the reply already claimed for its first send
attempt (what :meth:`SendLedger.claim` would write), linked from the inbound message — so the
reply job sends it at once, with no send job and no analysis job after it, and a redelivery
after its worker died finds the unsent reply (:func:`unsent_reply`) and finishes the send under
the send ledger's rules (look it up at Twilio first). A failed send fails the reply job, whose
retries send again. :class:`OrmReplyStore` is the portable adapter (SQLAlchemy's ORM, on SQLite
and PostgreSQL alike); the worker's bootstrap gives PostgreSQL one that makes each unit of work
one function call.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import AgentAnswer, AIText, ChatTurn
from switchboard.common.integrations.twilio_rest import TwilioRest, whatsapp_address
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.service import on_retry
from switchboard.common.logging import get_logger
from switchboard.common.models import Lead, WhatsAppConversation, WhatsAppMessage
from switchboard.domain.analysis.conversations import apply_lead_fields
from switchboard.domain.businesses.prompts import prompt_for
from switchboard.domain.leads.store import upsert_lead
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit, business_is_busy
from switchboard.domain.whatsapp.message_text import fitted_reply
from switchboard.domain.whatsapp.reply_context import HISTORY_LENGTH, ReplyContext
from switchboard.domain.whatsapp.sending import (
    SENDING,
    Outgoing,
    SendLedger,
    reopen_failed_send,
    send_claimed,
    send_outbound,
)
from switchboard.domain.whatsapp.sessions import touch_session
from switchboard.domain.whatsapp.window import fail_unanswerable, known_open

log = get_logger(__name__)


@dataclass(frozen=True)
class ReplyToSend:
    """A stored reply its job is to send.

    ``outgoing``: the reply as just stored, claimed for its first attempt; None for the reply
    an earlier delivery stored and did not see settled, which the send claims again.
    """

    reply_id: int
    outgoing: Outgoing | None


class ReplyStore(abc.ABC):
    """Where a reply reads what it answers and is stored with what it learnt."""

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
        self, business_id: int, message_id: int, context: ReplyContext, answer: AgentAnswer
    ) -> ReplyToSend | None:
        """Store the reply claimed for its first send attempt (``sending``, one attempt), link
        it from the inbound message (``reply_id``), mark that replied and write the answer's
        lead fields on the conversation's lead (``apply_lead_fields``), in one transaction;
        None if a concurrent delivery answered the message first."""


def unsent_reply(business_id: int, message_id: int) -> int | None:
    """The reply to an answered inbound message while it is neither sent nor failed: the job
    that stored it died, or failed, before its send settled."""
    reply = aliased(WhatsAppMessage)
    with tenant_session(business_id) as session:
        return session.scalar(
            select(reply.id)
            .join_from(WhatsAppMessage, reply, reply.id == WhatsAppMessage.reply_id)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.id == message_id,
                reply.business_id == business_id,
                reply.status.not_in(("sent", "failed")),
            )
        )


def reply_to_inbound(
    business_id: int,
    message_id: int,
    ai: AIText,
    store: ReplyStore,
    *,
    window_open_until_ms: int | None = None,
) -> ReplyToSend | None:
    """Answer the inbound message: the stored reply to send now, or None if nothing is left.

    The agent's one answer gives the reply and the lead's fields (no analysis job follows). An
    answered message whose reply is still unsent (an earlier delivery died or failed before its
    send settled) gives that reply, without asking the agent again. Raises
    :class:`BusinessAtLimit`, having written nothing, when the business already runs as many
    replies as it allows; the check shares the reply's first transaction.

    A message whose conversation's 24-hour window has closed (the job waited that long) is
    failed unanswered first, asking the agent nothing (``window.fail_unanswerable``); not
    looked for while the job's ``window_open_until_ms`` (its message's arrival + 24 h) holds.
    """
    if not known_open(window_open_until_ms, utcnow()) and fail_unanswerable(
        business_id, message_id, utcnow()
    ):
        log.warning(
            "whatsapp.window_closed_unanswered", business_id=business_id, message_id=message_id
        )
        return None
    context = store.context(business_id, message_id)
    if context is None:
        unsent = unsent_reply(business_id, message_id)
        return None if unsent is None else ReplyToSend(unsent, None)
    answer = ai.answer(context.prompt, context.history)
    # Stored as it is sent: a redelivery looks the reply up at Twilio by this text.
    answer = answer.model_copy(update={"reply": fitted_reply(answer.reply)})
    reply = store.store(business_id, message_id, context, answer)
    if reply is not None:
        log.info("whatsapp.reply_stored", business_id=business_id, message_id=reply.reply_id)
    return reply


def send_reply(
    business_id: int,
    reply: ReplyToSend,
    twilio: TwilioRest,
    ledger: SendLedger,
    *,
    final: bool,
    lookup_window: timedelta,
    window_open_until_ms: int | None = None,
) -> bool:
    """Send the reply under the send ledger's rules (see ``sending.send_outbound``)."""
    if reply.outgoing is None:
        return send_outbound(
            business_id,
            reply.reply_id,
            twilio,
            ledger,
            final=final,
            lookup_window=lookup_window,
            window_open_until_ms=window_open_until_ms,
        )
    return send_claimed(
        business_id,
        reply.reply_id,
        reply.outgoing,
        twilio,
        ledger,
        final=final,
        lookup_window=lookup_window,
        began=reply.outgoing.created_at,
        window_open_until_ms=window_open_until_ms,
    )


def reopen_failed_reply(session: Session, business_id: int, kwargs: Mapping[str, Any]) -> None:
    """A dead reply job retried: its reply, if its send failed, is unsettled again (see
    ``sending.reopen_failed_send``), so the retry sends it instead of finding it settled."""
    inbound_id = kwargs.get("message_id")
    if not isinstance(inbound_id, int):
        return
    reply_id = session.scalar(
        select(WhatsAppMessage.reply_id).where(
            WhatsAppMessage.business_id == business_id, WhatsAppMessage.id == inbound_id
        )
    )
    if reply_id is not None:
        reopen_failed_send(session, business_id, {"message_id": reply_id})


on_retry(PROCESS_WHATSAPP_WEBHOOK, reopen_failed_reply)


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
        self, business_id: int, message_id: int, context: ReplyContext, answer: AgentAnswer
    ) -> ReplyToSend | None:
        """Store the reply claimed for its first attempt and the lead's fields; None if
        already answered."""
        with tenant_session(business_id) as session:
            inbound = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if inbound.status == "replied":  # a concurrent delivery won
                return None
            conversation = owned_row(
                session, WhatsAppConversation, business_id, context.conversation_id
            )
            now = utcnow()
            reply = WhatsAppMessage(
                business_id=business_id,
                conversation_id=context.conversation_id,
                direction="out",
                body=answer.reply,
                status=SENDING,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
            session.add(reply)
            session.flush()
            inbound.status, inbound.reply_id = "replied", reply.id
            if conversation.lead_id is not None:  # the context found or created it
                lead = owned_row(session, Lead, business_id, conversation.lead_id, lock=True)
                apply_lead_fields(lead, answer.lead)
            outgoing = Outgoing(
                whatsapp_address(conversation.contact_number),
                whatsapp_address(conversation.business_number),
                answer.reply,
                as_utc(now),
                None,
            )
            return ReplyToSend(reply.id, outgoing)

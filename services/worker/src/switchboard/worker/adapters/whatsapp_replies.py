"""The reply's two units of work on PostgreSQL: a function call each (migrations 0006, 0016,
0021).

The context's call also writes a fast-started reply job's running mark (the worker's ledger
owes it), so the reply counts itself against its business's limit in the same statement.
"""

from __future__ import annotations

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import call_function
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import AgentAnswer, ChatTurn
from switchboard.common.integrations.twilio_rest import whatsapp_address
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.context import current_job
from switchboard.domain.businesses.prompts import prompt_for
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit
from switchboard.domain.whatsapp.replies import ReplyStore, ReplyToSend
from switchboard.domain.whatsapp.reply_context import HISTORY_LENGTH, ReplyContext
from switchboard.domain.whatsapp.sending import SENDING, Outgoing
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.heartbeat import worker_identity

_CONTEXT = (
    "SELECT * FROM switchboard_whatsapp_reply_context("
    ":role, :business_id, :message_id, :actor, :history, :now, :job_id, :job_started, :worker)"
)
_STORE = (
    "SELECT * FROM switchboard_whatsapp_store_reply("
    ":role, :business_id, :message_id, :conversation_id, :body, :now, :sending, "
    ":name, :email, :intent, :status)"
)


class PostgresReplyStore(ReplyStore):
    """The reply's context and store as calls of migration 0006's functions."""

    def __init__(self, app_role: str) -> None:
        self._app_role = app_role

    def context(self, business_id: int, message_id: int) -> ReplyContext | None:
        """What the reply needs (None if the message is answered); raises as the port says."""
        job = current_job()
        # A fast start's running mark, written by the same statement: this reply counts itself.
        with ledger.running_mark(job.job_id if job else None) as mark:
            state, conversation_id, prompt, directions, bodies = call_function(
                _CONTEXT,
                {
                    "role": self._app_role,
                    "business_id": business_id,
                    "message_id": message_id,
                    "actor": PROCESS_WHATSAPP_WEBHOOK.name,
                    "history": HISTORY_LENGTH,
                    "now": utcnow(),
                    "job_id": mark[0] if mark else None,
                    "job_started": mark[1] if mark else None,
                    "worker": worker_identity(),
                },
            )
        if state == "answered":
            return None
        if state == "busy":
            raise BusinessAtLimit(f"business {business_id} at its WhatsApp concurrency limit")
        if state == "missing":
            raise NotFoundError(
                f"WhatsAppMessage {message_id} not found for business {business_id}"
            )
        if state == "not_inbound":
            raise NotFoundError(f"message {message_id} is not an inbound message")
        if prompt is None:  # not prebuilt yet: built from the business's settings, as the ORM does
            with tenant_session(business_id) as session:
                prompt = prompt_for(session, business_id, "whatsapp")
        turns = [
            ChatTurn("user" if direction == "in" else "assistant", body)
            for direction, body in zip(directions, bodies, strict=True)
        ]
        return ReplyContext(int(conversation_id), prompt, turns)

    def store(
        self, business_id: int, message_id: int, context: ReplyContext, answer: AgentAnswer
    ) -> ReplyToSend | None:
        """Store the reply claimed for its first attempt and the lead's fields in one
        transaction; None if already answered."""
        now, lead = utcnow(), answer.lead
        state, reply_id, contact, number = call_function(
            _STORE,
            {
                "role": self._app_role,
                "business_id": business_id,
                "message_id": message_id,
                "conversation_id": context.conversation_id,
                "body": answer.reply,
                "now": now,
                "sending": SENDING,
                "name": lead.name,
                "email": lead.email,
                "intent": lead.intent,
                "status": lead.status,
            },
        )
        if state == "missing":
            raise NotFoundError(
                f"WhatsAppMessage {message_id} not found for business {business_id}"
            )
        if state == "answered":
            return None
        outgoing = Outgoing(
            whatsapp_address(contact), whatsapp_address(number), answer.reply, now, None
        )
        return ReplyToSend(int(reply_id), outgoing)

"""The reply's two units of work on PostgreSQL: one function call each (migration 0006).

Each call runs on an autocommit connection from the engine's pool: the function's statement is
its own transaction, so there is no ``BEGIN``, tenant setting or ``COMMIT`` round trip around
it, and no ORM object is built. The functions switch to the application role and set the
tenant themselves, so row-level security holds. ``replies.py`` keeps the portable path.
"""

from __future__ import annotations

from sqlalchemy import text

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import autocommit_connection
from switchboard.common.db.tenancy import hand_over_committed, tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import ChatTurn
from switchboard.common.jobs.context import current_job
from switchboard.common.jobs.enqueue import PreparedJob
from switchboard.common.jobs.outbox import PendingMessage
from switchboard.common.settings import get_settings
from switchboard.domain.businesses.prompts import prompt_for
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit
from switchboard.domain.whatsapp.inbound import REPLY_ACTOR
from switchboard.domain.whatsapp.reply_context import ReplyContext
from switchboard.worker.runtime import ledger

_CONTEXT = text(
    "SELECT * FROM switchboard_whatsapp_reply_context("
    ":role, :business_id, :message_id, :actor, :history, :now, :job_id, :job_started)"
)
_STORE = text(
    "SELECT * FROM switchboard_whatsapp_store_reply("
    ":role, :business_id, :message_id, :conversation_id, :body, :now, "
    ":send_id, :send_queue, :send_actor, :send_retries, :send_payload, "
    ":analysis_id, :analysis_queue, :analysis_actor, :analysis_retries, :analysis_payload, "
    ":analysis_key)"
)


def context(business_id: int, message_id: int, history: int) -> ReplyContext | None:
    """What the reply needs (None if the message is answered); raises like the ORM path."""
    job = current_job()
    # A fast start's running mark, written by the same statement: this reply counts itself.
    with ledger.running_mark(job.job_id if job else None) as mark, autocommit_connection() as conn:
        state, conversation_id, prompt, directions, bodies = conn.execute(
            _CONTEXT,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "message_id": message_id,
                "actor": REPLY_ACTOR,
                "history": history,
                "now": utcnow(),
                "job_id": mark[0] if mark else None,
                "job_started": mark[1] if mark else None,
            },
        ).one()
    if state == "answered":
        return None
    if state == "busy":
        raise BusinessAtLimit(f"business {business_id} at its WhatsApp concurrency limit")
    if state == "missing":
        raise NotFoundError(f"WhatsAppMessage {message_id} not found for business {business_id}")
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
    business_id: int,
    message_id: int,
    context: ReplyContext,
    body: str,
    send: PreparedJob,
    analysis: PreparedJob,
) -> int | None:
    """Store the reply and queue its jobs in one transaction; None if already answered."""
    with autocommit_connection() as conn:
        rows = conn.execute(
            _STORE,
            {
                "role": get_settings().db_app_role,
                "business_id": business_id,
                "message_id": message_id,
                "conversation_id": context.conversation_id,
                "body": body,
                "now": utcnow(),
                "send_id": send.message.message_id,
                "send_queue": send.message.queue_name,
                "send_actor": send.message.actor_name,
                "send_retries": send.max_retries,
                "send_payload": send.payload,
                "analysis_id": analysis.message.message_id,
                "analysis_queue": analysis.message.queue_name,
                "analysis_actor": analysis.message.actor_name,
                "analysis_retries": analysis.max_retries,
                "analysis_payload": analysis.payload,
                "analysis_key": analysis.dedup_key,
            },
        ).all()
    state, reply_id = rows[0][0], rows[0][1]
    if state == "missing":
        raise NotFoundError(f"WhatsAppMessage {message_id} not found for business {business_id}")
    if state == "answered":
        return None
    pending: list[PendingMessage] = [
        (int(outbox_id), str(payload)) for *_, outbox_id, payload in rows
    ]
    hand_over_committed(pending)
    return int(reply_id)

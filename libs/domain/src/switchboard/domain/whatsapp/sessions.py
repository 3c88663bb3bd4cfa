"""WhatsApp sessions: a burst of conversation, summarised and closed after 15 idle minutes.

Each idle session is summarised by a job of its own (``auto_summary_whatsapp_session_job``
with its ``session_id``), so a backlog drains in parallel and one failing summary holds up
no other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.ai_text import AIText, ChatTurn
from switchboard.common.jobs import JobRef, enqueue_unique, raise_if_cancelled
from switchboard.common.jobs.catalog import AUTO_SUMMARY_WHATSAPP_SESSION
from switchboard.common.logging import get_logger
from switchboard.common.models import Lead, WhatsAppConversation, WhatsAppMessage, WhatsAppSession

log = get_logger(__name__)

IDLE_AFTER = timedelta(minutes=15)


def as_aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def touch_session(session: Session, business_id: int, conversation_id: int) -> WhatsAppSession:
    """The conversation's open session, now active; a new one if none is open."""
    now = utcnow()
    current = session.execute(
        select(WhatsAppSession)
        .where(
            WhatsAppSession.business_id == business_id,
            WhatsAppSession.conversation_id == conversation_id,
            WhatsAppSession.closed_at.is_(None),
        )
        .order_by(WhatsAppSession.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()
    if current is None:
        current = WhatsAppSession(
            business_id=business_id,
            conversation_id=conversation_id,
            started_at=now,
            last_activity_at=now,
        )
        session.add(current)
    else:
        current.last_activity_at = now
    return current


def idle_session_ids(
    session: Session, cutoff: datetime, *, business_id: int | None = None, limit: int = 1000
) -> list[tuple[int, int]]:
    """``(business_id, session_id)`` of open sessions idle since ``cutoff``, longest idle first."""
    query = select(WhatsAppSession.business_id, WhatsAppSession.id).where(
        WhatsAppSession.closed_at.is_(None), WhatsAppSession.last_activity_at <= cutoff
    )
    if business_id is not None:
        query = query.where(WhatsAppSession.business_id == business_id)
    rows = session.execute(query.order_by(WhatsAppSession.last_activity_at).limit(limit)).all()
    return [(row.business_id, row.id) for row in rows]


def queue_session_summary(business_id: int, session_id: int) -> JobRef:
    """The session's summary job, unless one is queued or running already."""
    return enqueue_unique(
        AUTO_SUMMARY_WHATSAPP_SESSION,
        key=f"whatsapp-summary:{business_id}:{session_id}",
        business_id=business_id,
        session_id=session_id,
    )


def queue_idle_session_summaries(business_id: int, now: datetime | None = None) -> int:
    """One summary job for each of the business's idle sessions; how many were found."""
    cutoff = (now or utcnow()) - IDLE_AFTER
    with tenant_session(business_id) as session:
        found = idle_session_ids(session, cutoff, business_id=business_id)
    for _, session_id in found:
        queue_session_summary(business_id, session_id)
    return len(found)


def _turns(session: Session, business_id: int, chat: WhatsAppSession) -> list[ChatTurn]:
    rows = session.execute(
        select(WhatsAppMessage.direction, WhatsAppMessage.body)
        .where(
            WhatsAppMessage.business_id == business_id,
            WhatsAppMessage.conversation_id == chat.conversation_id,
            WhatsAppMessage.created_at >= chat.started_at,
        )
        .order_by(WhatsAppMessage.id)
    ).all()
    return [ChatTurn("user" if row.direction == "in" else "assistant", row.body) for row in rows]


def summarize_session(
    business_id: int, session_id: int, ai: AIText, *, now: datetime | None = None
) -> bool:
    """Summarise and close the session if it is open and idle; True if it was closed.

    Three steps, the AI call between two short transactions so no lock is held while it
    runs: a reply meanwhile touches the session as usual, and the summary, now out of date,
    is dropped (the session stays open, to be summarised once idle again).
    """
    cutoff = (now or utcnow()) - IDLE_AFTER
    with tenant_session(business_id) as session:
        chat = owned_row(session, WhatsAppSession, business_id, session_id)
        if chat.closed_at is not None or as_aware(chat.last_activity_at) > cutoff:
            return False
        last_activity = chat.last_activity_at
        turns = _turns(session, business_id, chat)
    summary = ai.summarize(turns) if turns else ""
    raise_if_cancelled()  # a checkpoint: cancelled during the AI call, nothing is stored
    with tenant_session(business_id) as session:
        chat = owned_row(session, WhatsAppSession, business_id, session_id, lock=True)
        if chat.closed_at is not None or chat.last_activity_at != last_activity:
            log.info("whatsapp.summary_dropped", business_id=business_id, session_id=session_id)
            return False
        chat.summary, chat.closed_at = summary, utcnow()
        conversation = owned_row(session, WhatsAppConversation, business_id, chat.conversation_id)
        if conversation.lead_id is not None and summary:
            owned_row(session, Lead, business_id, conversation.lead_id).summary = summary
    log.info("whatsapp.session_summarized", business_id=business_id, session_id=session_id)
    return True

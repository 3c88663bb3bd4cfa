"""WhatsApp sessions: a burst of conversation, summarised and closed after 15 idle minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.ai_text import AIText, ChatTurn
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


def _idle_sessions(
    session: Session, business_id: int, cutoff: datetime, session_id: int | None
) -> list[WhatsAppSession]:
    if session_id is not None:
        row = owned_row(session, WhatsAppSession, business_id, session_id, lock=True)
        idle = row.closed_at is None and as_aware(row.last_activity_at) <= cutoff
        return [row] if idle else []
    return list(
        session.execute(
            select(WhatsAppSession)
            .where(
                WhatsAppSession.business_id == business_id,
                WhatsAppSession.closed_at.is_(None),
                WhatsAppSession.last_activity_at <= cutoff,
            )
            .with_for_update(skip_locked=True)
        ).scalars()
    )


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


def summarize_idle_sessions(
    business_id: int, ai: AIText, *, session_id: int | None = None, now: datetime | None = None
) -> list[int]:
    """Summarise and close idle sessions (one, or all of the business's); returns their ids."""
    cutoff = (now or utcnow()) - IDLE_AFTER
    closed: list[int] = []
    with tenant_session(business_id) as session:
        for chat in _idle_sessions(session, business_id, cutoff, session_id):
            turns = _turns(session, business_id, chat)
            chat.summary = ai.summarize(turns) if turns else ""
            chat.closed_at = utcnow()
            conversation = owned_row(
                session, WhatsAppConversation, business_id, chat.conversation_id
            )
            if conversation.lead_id is not None and chat.summary:
                lead = owned_row(session, Lead, business_id, conversation.lead_id)
                lead.summary = chat.summary
            closed.append(chat.id)
    log.info("whatsapp.sessions_summarized", business_id=business_id, closed=len(closed))
    return closed

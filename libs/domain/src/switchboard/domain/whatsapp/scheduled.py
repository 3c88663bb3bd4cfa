"""The WhatsApp domain's periodic jobs: every minute, each business with sessions idle for
15 minutes gets a sweep (``auto_summary_whatsapp_session_job`` without a session), which queues
one summary job per idle session (``sessions.queue_idle_session_summaries``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import AUTO_SUMMARY_WHATSAPP_SESSION
from switchboard.common.jobs.schedules import Every, Missed, Schedule, Tick
from switchboard.common.models import WhatsAppSession
from switchboard.domain.whatsapp.sessions import IDLE_AFTER

#: A sweep the next minute's repeats: one left waiting in a backlog longer expires.
SWEEP_TTL_S = 600


def businesses_with_idle_sessions(session: Session, tick: Tick) -> Iterable[int]:
    """The businesses with an open session idle for 15 minutes at the tick."""
    return session.execute(
        select(WhatsAppSession.business_id)
        .where(
            WhatsAppSession.closed_at.is_(None),
            WhatsAppSession.last_activity_at <= tick.at - IDLE_AFTER,
        )
        .distinct()
    ).scalars()


SCHEDULES = (
    Schedule(
        "whatsapp_idle_summaries",
        AUTO_SUMMARY_WHATSAPP_SESSION,
        when=Every(60),
        missed=Missed.CATCH_UP_ONCE,
        targets=businesses_with_idle_sessions,
        ttl_s=SWEEP_TTL_S,
    ),
)

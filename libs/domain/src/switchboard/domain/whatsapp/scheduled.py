"""The WhatsApp domain's periodic jobs: sessions idle for 15 minutes are summarised and closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs import enqueue_unique
from switchboard.common.jobs.catalog import AUTO_SUMMARY_WHATSAPP_SESSION
from switchboard.common.models import WhatsAppSession
from switchboard.domain.whatsapp.sessions import IDLE_AFTER

SCAN_PERIOD_S = 60


def schedule_session_summaries(now: datetime | None = None) -> int:
    """Enqueue a summary job for every business with idle open sessions (once a minute)."""
    cutoff = (now or utcnow()) - IDLE_AFTER
    with system_session() as session:
        business_ids = list(
            session.execute(
                select(WhatsAppSession.business_id)
                .where(
                    WhatsAppSession.closed_at.is_(None), WhatsAppSession.last_activity_at <= cutoff
                )
                .distinct()
            ).scalars()
        )
    for business_id in business_ids:
        enqueue_unique(
            AUTO_SUMMARY_WHATSAPP_SESSION,
            key=f"whatsapp-summary:{business_id}",
            period=SCAN_PERIOD_S,
            business_id=business_id,
        )
    return len(business_ids)


# (name, interval in seconds, function): what the scheduler's leader runs for this domain.
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("whatsapp_session_summaries", 60, schedule_session_summaries),
)

"""The WhatsApp domain's periodic jobs: sessions idle for 15 minutes are summarised and closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.domain.whatsapp.sessions import IDLE_AFTER, idle_session_ids, queue_session_summary

SCAN_PERIOD_S = 60
#: Sessions queued per scan at most, longest idle first; the next scan takes the rest.
SCAN_LIMIT = 1000


def schedule_session_summaries(now: datetime | None = None) -> int:
    """Queue a summary job for every idle open session (once a minute); how many were found.

    One job per session, keyed by it: a session whose job is still queued or running gets no
    second one, and no scan or job holds a transaction across an AI call.
    """
    cutoff = (now or utcnow()) - IDLE_AFTER
    with system_session() as session:
        found = idle_session_ids(session, cutoff, limit=SCAN_LIMIT)
    for business_id, session_id in found:
        queue_session_summary(business_id, session_id)
    return len(found)


# (name, interval in seconds, function): what the scheduler's leader runs for this domain.
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("whatsapp_session_summaries", SCAN_PERIOD_S, schedule_session_summaries),
)

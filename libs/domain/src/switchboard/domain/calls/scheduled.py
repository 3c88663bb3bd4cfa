"""The calls domain's periodic jobs: expired recordings are cleaned up once a day per business."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs import enqueue_unique
from switchboard.common.jobs.catalog import CLEANUP_OLD_RECORDINGS
from switchboard.common.models import Recording
from switchboard.domain.calls.recordings import RETENTION

CLEANUP_PERIOD_S = 86_400


def schedule_recording_cleanups(now: datetime | None = None) -> int:
    """Enqueue one cleanup per business that has expired recordings (at most once a day)."""
    cutoff = (now or utcnow()) - RETENTION
    with system_session() as session:
        business_ids = list(
            session.execute(
                select(Recording.business_id).where(Recording.created_at < cutoff).distinct()
            ).scalars()
        )
    for business_id in business_ids:
        enqueue_unique(
            CLEANUP_OLD_RECORDINGS,
            key=f"cleanup-recordings:{business_id}",
            period=CLEANUP_PERIOD_S,
            business_id=business_id,
        )
    return len(business_ids)


# (name, interval in seconds, function): what the scheduler's leader runs for this domain.
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("recording_cleanup", 3600, schedule_recording_cleanups),
)

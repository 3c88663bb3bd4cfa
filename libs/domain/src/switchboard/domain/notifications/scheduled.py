"""The notifications domain's periodic jobs: due reminders are scanned every 30 seconds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs import enqueue_unique
from switchboard.common.jobs.catalog import SCHEDULE_REMINDERS
from switchboard.common.models import Reminder

REMINDER_SCAN_PERIOD_S = 30


def schedule_reminder_scans(now: datetime | None = None) -> int:
    """Enqueue a reminder job for each business with due reminders (once per 30 s window)."""
    now = now or utcnow()
    with system_session() as session:
        business_ids = list(
            session.execute(
                select(Reminder.business_id)
                .where(Reminder.status == "pending", Reminder.due_at <= now)
                .distinct()
            ).scalars()
        )
    for business_id in business_ids:
        enqueue_unique(
            SCHEDULE_REMINDERS,
            key=f"reminders:{business_id}",
            period=REMINDER_SCAN_PERIOD_S,
            business_id=business_id,
        )
    return len(business_ids)


# (name, interval in seconds, function): what the scheduler's leader runs for this domain.
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("reminders", 30, schedule_reminder_scans),
)

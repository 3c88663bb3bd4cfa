"""The notifications domain's periodic jobs: every minute, a reminders job for each business
with reminders due."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import SCHEDULE_REMINDERS
from switchboard.common.jobs.schedules import Every, Missed, Schedule, Tick
from switchboard.common.models import Reminder
from switchboard.common.models.notifications import PENDING_REMINDER_SQL


def businesses_with_due_reminders(session: Session, tick: Tick) -> Iterable[int]:
    """The businesses with a pending reminder due by the tick."""
    return session.execute(
        select(Reminder.business_id)
        .where(PENDING_REMINDER_SQL, Reminder.due_at <= tick.at)  # through ix_reminders_pending
        .distinct()
    ).scalars()


SCHEDULES = (
    Schedule(
        "reminders",
        SCHEDULE_REMINDERS,
        when=Every(60),
        missed=Missed.CATCH_UP_ONCE,
        targets=businesses_with_due_reminders,
    ),
)

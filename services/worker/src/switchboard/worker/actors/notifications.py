"""Notification jobs: Web Push, and the reminder scan that feeds it."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import SCHEDULE_REMINDERS, SEND_PUSH_NOTIFICATION
from switchboard.domain.notifications import push as notifications


@job_actor(SEND_PUSH_NOTIFICATION)
def send_push_notification_job(*, business_id: int, subscription_id: int, reminder_id: int) -> None:
    """Push a reminder to one of the business's browser subscriptions (a gone one is removed)."""
    notifications.send_push(
        business_id, adapters().push, subscription_id=subscription_id, reminder_id=reminder_id
    )


@job_actor(SCHEDULE_REMINDERS)
def schedule_reminders_job(*, business_id: int) -> None:
    """Send the business's due reminders, each once."""
    notifications.send_due_reminders(business_id)

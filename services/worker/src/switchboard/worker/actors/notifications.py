"""Notification jobs: Web Push, and the reminder scan that feeds it."""

from __future__ import annotations

import dramatiq

from switchboard.common.bootstrap import adapters
from switchboard.common.integrations.push import PushRetryableError
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import SCHEDULE_REMINDERS, SEND_PUSH_NOTIFICATION
from switchboard.common.models import Reminder
from switchboard.domain.notifications import push as notifications
from switchboard.worker.actors._erased import unless_erased


@job_actor(SEND_PUSH_NOTIFICATION)
@unless_erased(reminder_id=Reminder)
def send_push_notification_job(*, business_id: int, subscription_id: int, reminder_id: int) -> None:
    """Push a reminder to one of the business's browser subscriptions (a gone one is removed).

    A push service that rate limits us (429) with ``Retry-After`` is tried again no sooner than
    it asked (within the job's lifetime), not after the usual, shorter back-off.
    """
    try:
        notifications.send_push(
            business_id, adapters().push, subscription_id=subscription_id, reminder_id=reminder_id
        )
    except PushRetryableError as exc:
        if exc.retry_after is None:
            raise
        wait_s = min(exc.retry_after, float(SEND_PUSH_NOTIFICATION.ttl_s or 0))
        raise dramatiq.Retry(str(exc), delay=int(wait_s * 1000)) from exc


@job_actor(SCHEDULE_REMINDERS)
def schedule_reminders_job(*, business_id: int) -> None:
    """Send the business's due reminders, each once."""
    notifications.send_due_reminders(business_id)

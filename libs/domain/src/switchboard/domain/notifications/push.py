"""Web Push notifications to a business's dashboards, and the reminders that trigger them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.push import (
    PushSender,
    PushSubscriptionInfo,
    SubscriptionGone,
    fit_text,
)
from switchboard.common.jobs import FOREVER, enqueue_unique
from switchboard.common.jobs.catalog import SEND_PUSH_NOTIFICATION
from switchboard.common.logging import get_logger
from switchboard.common.models import PushSubscription, Reminder
from switchboard.common.models.notifications import PENDING_REMINDER_SQL
from switchboard.domain.notifications.subscriptions import pushed

log = get_logger(__name__)


def reminder_notification(reminder: Reminder) -> dict[str, Any]:
    """What a browser is pushed for a due reminder: its title and, as the body, its note,
    shortened to what a push can carry (about 4 KB)."""
    payload: dict[str, Any] = {
        "type": "reminder",
        "reminder_id": reminder.id,
        "title": reminder.title,
    }
    if reminder.lead_id is not None:
        payload["lead_id"] = reminder.lead_id
    if reminder.note:
        payload = fit_text({**payload, "body": reminder.note}, "body")
    return fit_text(payload, "title")


def reminder_topic(reminder_id: int) -> str:
    """The push ``Topic`` of a reminder's notification: a second push of it (a redelivered job
    whose worker died after the push service took the first) replaces the first while the
    service still holds it undelivered."""
    return f"reminder-{reminder_id}"


def push_key(reminder: Reminder, subscription_id: int) -> str:
    """The unique key of a reminder's push to one subscription: once per due time, so a
    reminder moved on after its push (a snooze) is pushed again, and a scan that runs twice
    pushes once."""
    due = as_utc(reminder.due_at).isoformat()
    return f"reminder:{reminder.business_id}:{reminder.id}:{due}:{subscription_id}"


def still_due(reminder: Reminder, now: datetime) -> bool:
    """Whether a queued push of the reminder is still wanted: it was sent, or is pending and
    due. One snoozed to a later time, done or cancelled since its push was queued is not
    pushed (a snoozed one is pushed by the sweep at its new time, under a new key)."""
    if reminder.status == "sent":
        return True
    return reminder.status == "pending" and as_utc(reminder.due_at) <= now


def send_push(
    business_id: int, sender: PushSender, *, subscription_id: int, reminder_id: int
) -> bool:
    """Push a reminder to one subscription, its text read now; a gone subscription (404/410)
    is deleted. Another business's subscription or reminder, one deleted since, or a
    subscription no longer pushed (its API key revoked: :func:`.subscriptions.pushed`) is
    ``NotFoundError``; a reminder no longer due (:func:`still_due`) is skipped.

    At least once: a worker that dies after the push service took the push, before the job's
    success is recorded, has the job redelivered and the push sent again, under the same
    :func:`reminder_topic` (Web Push has no idempotency key and nothing to look a push up by).
    """
    with tenant_session(business_id) as session:
        row = session.execute(
            select(PushSubscription).where(
                PushSubscription.id == subscription_id, pushed(business_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"subscription {subscription_id} not found")
        info = PushSubscriptionInfo(row.endpoint, row.p256dh, row.auth)
        reminder = owned_row(session, Reminder, business_id, reminder_id)
        if not still_due(reminder, utcnow()):
            log.info(
                "push.skipped_not_due",
                business_id=business_id,
                reminder_id=reminder_id,
                status=reminder.status,
            )
            return False
        payload = reminder_notification(reminder)
    try:
        sender.send(info, payload, topic=reminder_topic(reminder_id))
    except SubscriptionGone:
        with tenant_session(business_id) as session:
            session.execute(
                delete(PushSubscription).where(
                    PushSubscription.business_id == business_id,
                    PushSubscription.id == subscription_id,
                )
            )
        log.info(
            "push.subscription_removed", business_id=business_id, subscription_id=subscription_id
        )
        return False
    log.info("push.delivered", business_id=business_id, subscription_id=subscription_id)
    return True


def send_due_reminders(business_id: int, now: datetime | None = None) -> int:
    """Mark due reminders sent and queue a push per subscription pushed (a live API key's),
    once per reminder (the job gets the ids; the text is read when it is sent); with no
    such subscription, ``unheard``."""
    now = now or utcnow()
    with tenant_session(business_id) as session:
        due = list(
            session.execute(
                select(Reminder)
                .where(
                    Reminder.business_id == business_id,
                    PENDING_REMINDER_SQL,  # through ix_reminders_pending
                    Reminder.due_at <= now,
                )
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        subscriptions = list(
            session.execute(select(PushSubscription.id).where(pushed(business_id))).scalars()
        )
        for reminder in due:
            if not subscriptions:  # nobody to tell: said on the reminder, never retried
                reminder.status = "unheard"
                continue
            reminder.status, reminder.sent_at = "sent", now
            for subscription_id in subscriptions:
                enqueue_unique(
                    SEND_PUSH_NOTIFICATION,
                    key=push_key(reminder, subscription_id),
                    period=FOREVER,
                    business_id=business_id,
                    subscription_id=subscription_id,
                    reminder_id=reminder.id,
                )
    if due and not subscriptions:
        log.warning("reminders.unheard", business_id=business_id, count=len(due))
    else:
        log.info("reminders.sent", business_id=business_id, count=len(due))
    return len(due)

"""Notifications: reminders and the Web Push notifications that deliver them to dashboards.

``reminders`` creates and edits a business's reminders; ``subscriptions`` keeps the browsers
that get notifications; ``push`` sends a notification and the due reminders; ``statuses``
names a reminder's states; ``scheduled`` declares the domain's periodic jobs.
"""

from switchboard.domain.notifications.push import send_due_reminders, send_push
from switchboard.domain.notifications.reminders import (
    ReminderFilter,
    create_reminder,
    delete_reminder,
    get_reminder,
    list_reminders,
    update_reminder,
)
from switchboard.domain.notifications.subscriptions import (
    get_subscription,
    list_subscriptions,
    subscribe,
    unsubscribe,
)

__all__ = [
    "ReminderFilter",
    "create_reminder",
    "delete_reminder",
    "get_reminder",
    "get_subscription",
    "list_reminders",
    "list_subscriptions",
    "send_due_reminders",
    "send_push",
    "subscribe",
    "unsubscribe",
    "update_reminder",
]

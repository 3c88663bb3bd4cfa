"""The states of a reminder, one vocabulary for the sweep, the API and its ``?status=`` filter.

``pending`` until its due time; then the sweep makes it ``sent`` (a push queued to each of the
business's browser subscriptions) or, when the business has none, ``unheard``: nobody could be
told, and nothing retries it (subscribe a browser and snooze it to be pushed). ``done`` and
``cancelled`` are the business's own, and end it.
"""

from __future__ import annotations

from typing import Literal, get_args

ReminderStatus = Literal["pending", "sent", "unheard", "done", "cancelled"]
#: Every state a reminder may be in.
REMINDER_STATUSES: tuple[ReminderStatus, ...] = get_args(ReminderStatus)
#: The states the sweep leaves a due reminder in; a new due time (a snooze) makes it pending.
SWEPT: frozenset[str] = frozenset({"sent", "unheard"})

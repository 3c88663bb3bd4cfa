"""A business's reminders: created and edited through the API, sent by the scheduler's job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc
from switchboard.common.db.keyset import Page, fetch_page
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import InvalidReferenceError
from switchboard.common.models import Lead, Reminder
from switchboard.domain.notifications.statuses import SWEPT


@dataclass(frozen=True)
class ReminderFilter:
    """What a reminder list is narrowed to."""

    status: str | None = None
    lead_id: int | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None


def _check_lead(session: Session, business_id: int, lead_id: int | None) -> None:
    if lead_id is None:
        return
    exists = session.execute(
        select(Lead.id).where(Lead.business_id == business_id, Lead.id == lead_id)
    ).first()
    if exists is None:
        raise InvalidReferenceError("lead_id", f"lead {lead_id} not found")


def create_reminder(business_id: int, fields: Mapping[str, Any]) -> Reminder:
    """Create a pending reminder (``lead_id``, if given, must be this business's lead)."""
    with tenant_session(business_id) as session:
        _check_lead(session, business_id, fields.get("lead_id"))
        reminder = Reminder(business_id=business_id, status="pending", **fields)
        session.add(reminder)
        session.flush()
        return reminder


def list_reminders(
    business_id: int, filters: ReminderFilter, *, limit: int = 50, after: int | None = None
) -> Page[Reminder]:
    """This business's reminders, newest first."""
    query = select(Reminder).where(Reminder.business_id == business_id)
    if filters.status:
        query = query.where(Reminder.status == filters.status)
    if filters.lead_id is not None:
        query = query.where(Reminder.lead_id == filters.lead_id)
    if filters.due_before is not None:
        query = query.where(Reminder.due_at < filters.due_before)
    if filters.due_after is not None:
        query = query.where(Reminder.due_at >= filters.due_after)
    with tenant_session(business_id) as session:
        return fetch_page(session, query, Reminder.id, limit=limit, after=after)


def get_reminder(business_id: int, reminder_id: int) -> Reminder:
    """One reminder of this business."""
    with tenant_session(business_id) as session:
        return owned_row(session, Reminder, business_id, reminder_id, what="reminder")


def update_reminder(business_id: int, reminder_id: int, changes: Mapping[str, Any]) -> Reminder:
    """Change a reminder's title, note, due time, lead or status.

    A sent (or unheard) reminder given a new due time (a snooze) is pending again, unless the
    change sets its status too: it is pushed once more at the new time.
    """
    with tenant_session(business_id) as session:
        reminder = owned_row(session, Reminder, business_id, reminder_id, what="reminder")
        if "lead_id" in changes:
            _check_lead(session, business_id, changes["lead_id"])
        moved = "due_at" in changes and as_utc(changes["due_at"]) != as_utc(reminder.due_at)
        if moved and reminder.status in SWEPT and "status" not in changes:
            reminder.status = "pending"
        for name, value in changes.items():
            setattr(reminder, name, value)
        session.flush()
        return reminder


def delete_reminder(business_id: int, reminder_id: int) -> None:
    """Delete a reminder."""
    with tenant_session(business_id) as session:
        owned_row(session, Reminder, business_id, reminder_id, what="reminder")
        session.execute(
            delete(Reminder).where(Reminder.business_id == business_id, Reminder.id == reminder_id)
        )

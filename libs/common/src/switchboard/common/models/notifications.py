"""Web Push subscriptions and reminders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped

#: A reminder not sent yet, as a constant: a query that says it the same way (the reminders
#: sweep's, every minute, even with a prepared statement's generic plan) reads the pending
#: reminders through ``ix_reminders_pending``, not every reminder ever sent.
PENDING_REMINDER_SQL = text("reminders.status = 'pending'")
_PENDING_INDEX_SQL = text("status = 'pending'")


class PushSubscription(TenantOwned, Timestamped, Base):
    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("business_id", "endpoint"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The API key (a member of the business) whose browser it is: only a live key's
    #: subscriptions are pushed, and revoking the key deletes them. None: registered before
    #: subscriptions had keys (migration 0042), and pushed no more until registered again.
    api_key_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(100))


class Reminder(TenantOwned, Timestamped, Base):
    __tablename__ = "reminders"
    __table_args__ = (
        # The reminders due (every minute, ``notifications/scheduled.py``): the pending ones
        # up to now, not every reminder ever sent (migration 0033).
        Index(
            "ix_reminders_pending",
            "due_at",
            postgresql_where=_PENDING_INDEX_SQL,
            sqlite_where=_PENDING_INDEX_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

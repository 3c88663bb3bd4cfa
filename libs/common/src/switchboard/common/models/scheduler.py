"""The scheduler's memory: the last tick each schedule emitted, per time zone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, utcnow


class ScheduleTick(Base):
    """The last tick a schedule emitted, per time zone (``UTC``, or a business time zone).

    Infrastructure, like the outbox: no row-level security. The leader locks the row while it
    emits a tick's jobs and stores the tick in the same transaction, so a new leader goes on
    from the stored tick: it neither repeats one nor skips one.
    """

    __tablename__ = "schedule_ticks"

    schedule: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_tick_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ticks_emitted: Mapped[int] = mapped_column(BigInteger, default=0)
    jobs_emitted: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

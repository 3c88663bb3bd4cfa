"""Call events kept aside: what the API's consumer could not handle, until it is replayed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, utcnow


class ParkedEvent(Base):
    """One call event the consumer parked, with the body as it arrived and the last error.

    Infrastructure, like the outbox: no row-level security. ``event_business_id`` is the
    business the event names (not a tenant key: an unreadable body names none).
    """

    __tablename__ = "parked_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(40))
    event_business_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=1)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

"""Call logs, live call sessions and recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped

#: Twilio call statuses after which nothing more happens on the call; any other is open.
FINAL_CALL_STATUSES = ("busy", "canceled", "completed", "failed", "no-answer")
_FINAL_LIST = ", ".join(f"'{status}'" for status in FINAL_CALL_STATUSES)
#: The call logs still open, as a constant list: a query that says it the same way (the
#: stale-call sweep's, every minute) reads them through ``ix_call_logs_open``, not the table.
OPEN_CALL_SQL = text(f"call_logs.status NOT IN ({_FINAL_LIST})")
_OPEN_INDEX_SQL = text(f"status NOT IN ({_FINAL_LIST})")


class CallLog(TenantOwned, Timestamped, Base):
    __tablename__ = "call_logs"
    __table_args__ = (
        UniqueConstraint("business_id", "call_sid"),
        Index(
            "ix_call_logs_open",
            "updated_at",
            postgresql_where=_OPEN_INDEX_SQL,
            sqlite_where=_OPEN_INDEX_SQL,
        ),
    )
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    transcript: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    summary: Mapped[str | None] = mapped_column(Text)
    outbound_run_id: Mapped[int | None] = mapped_column(BigId, index=True)
    outbound_item_id: Mapped[int | None] = mapped_column(BigId)


class CallSession(TenantOwned, Timestamped, Base):
    """The media-stream side of a call, as the gateway reported it."""

    __tablename__ = "call_sessions"
    __table_args__ = (UniqueConstraint("business_id", "call_sid"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    stream_sid: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32), default="active")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Recording(TenantOwned, Timestamped, Base):
    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("business_id", "recording_sid"),
        # The recordings past their retention (daily in each time zone,
        # ``calls/scheduled.py``): not the week's kept (migration 0033).
        Index("ix_recordings_created_at", "created_at"),
    )
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    call_log_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("call_logs.id", ondelete="SET NULL")
    )
    source_url: Mapped[str | None] = mapped_column(String(500))
    storage_key: Mapped[str | None] = mapped_column(String(500))
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32), default="pending")
    transcript: Mapped[str | None] = mapped_column(Text)
    #: The texts of the pieces transcribed so far, in order, while the transcription is under
    #: way (a long call's WAV is sent in 25 MB pieces): a retry resumes at the next piece.
    #: Emptied when ``transcript`` is written (migration 0038).
    transcript_pieces: Mapped[list[str] | None] = mapped_column(JSON)

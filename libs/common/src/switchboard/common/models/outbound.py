"""Outbound call runs (campaigns) and the items they dial."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped


class OutboundRun(TenantOwned, Timestamped, Base):
    __tablename__ = "outbound_runs"
    __table_args__ = (
        # Runs of a status by when they finished (migration 0033, for the reconciler's runs
        # ended lately; it now reads the items in flight instead: ix_outbound_items_in_flight).
        Index("ix_outbound_runs_status_finished_at", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    window_start: Mapped[str | None] = mapped_column(String(5))  # "09:00", business time zone
    window_end: Mapped[str | None] = mapped_column(String(5))
    retry_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)


#: The statuses of an item whose call is in flight (``domain/outbound/progress.IN_FLIGHT``).
ITEM_IN_FLIGHT_SQL = "status IN ('dialing', 'in_progress')"


class OutboundItem(TenantOwned, Timestamped, Base):
    __tablename__ = "outbound_items"
    __table_args__ = (
        UniqueConstraint("run_id", "lead_id"),
        # The reconciler's ended runs with calls in flight, whenever they ended (every 15
        # seconds, ``outbound/closing.py``): read from the few items in flight (migration 0036).
        Index(
            "ix_outbound_items_in_flight",
            "run_id",
            postgresql_where=text(ITEM_IN_FLIGHT_SQL),
            sqlite_where=text(ITEM_IN_FLIGHT_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("outbound_runs.id", ondelete="CASCADE"), index=True
    )
    #: Null once the lead is erased (``domain/erasures``): the item's history stays, its
    #: number blanked. Deleting a lead otherwise deletes its items (``leads.store``).
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id", ondelete="SET NULL"))
    #: Empty once the lead is erased.
    phone: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    #: When Twilio accepted the latest call.
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Calls Twilio accepted for this lead (attempts it refused are not counted).
    calls_placed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_call_status: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)

"""Erasure requests: everything a business holds about one person, deleted on request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, Timestamped

#: The erasures a repeated request answers rather than starting another (``domain/erasures``).
UNFINISHED_SQL = text("status <> 'done'")


class Erasure(TenantOwned, Timestamped, Base):
    """One request to erase a person (GDPR art. 17), named by their phone number.

    ``phone`` is kept only while the job runs: it is cleared in the transaction that marks the
    erasure ``done``, after which only ``phone_hash`` (a keyed hash, ``domain/erasures``) says
    which number it was, so a repeated request is recognised without keeping the number.
    At most one unfinished erasure per number and business, held by the database (two requests
    at the same instant cannot both start one: migration 0031).
    ``counts`` holds what was erased per kind, each written in the transaction that erased it.
    """

    __tablename__ = "erasures"
    __table_args__ = (
        # The one index business_id leads: a business's requests for one number (a repeat).
        Index("ix_erasures_business_id_phone_hash", "business_id", "phone_hash"),
        # One unfinished erasure per number and business; the hash leads, as business_id
        # leads one index only (it is per business: the pair is what must be unique).
        Index(
            "uq_erasures_unfinished_phone_hash",
            "phone_hash",
            "business_id",
            unique=True,
            postgresql_where=UNFINISHED_SQL,
            sqlite_where=UNFINISHED_SQL,
        ),
    )
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    #: HMAC-SHA256 (hex) of the number, keyed per deployment.
    phone_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ErasedCall(TenantOwned, Timestamped, Base):
    """A call an erasure erased, kept for good as a keyed hash of its sid (``domain/erasures``).

    What arrives about the call after its erasure (Twilio's recording callback, late or
    retried; a recording job that waited in the queue) is recognised by it and refused: the
    recording is deleted at Twilio, never downloaded or transcribed. No personal data: the
    hash is keyed and per business, as the erasure's number's is.
    """

    __tablename__ = "erased_calls"
    __table_args__ = (UniqueConstraint("business_id", "call_sid_hash"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: HMAC-SHA256 (hex) of the call's sid, keyed per deployment.
    call_sid_hash: Mapped[str] = mapped_column(String(64))
    erasure_id: Mapped[int] = mapped_column(BigId)


class ErasedRow(TenantOwned, Timestamped, Base):
    """A row an erasure deleted that a job may name by its id: a call log, a webhook delivery,
    a WhatsApp message, conversation or session, a reminder (``domain/erasures/erased_rows.py``).

    A job queued for it before the erasure finds it gone: its work is no longer owed, and it
    ends quietly rather than failing (``worker/actors/_erased.py``); a row gone with no such
    record is a bug, and its job still fails. Ids only, no personal data; kept for good, as
    a dead job may be retried at any time.
    """

    __tablename__ = "erased_rows"
    __table_args__ = (UniqueConstraint("business_id", "table_name", "row_id"),)
    business_id_leads_unique_key = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The table the row was in (``call_logs``, ``webhook_deliveries``, …).
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[int] = mapped_column(BigId)
    erasure_id: Mapped[int] = mapped_column(BigId)

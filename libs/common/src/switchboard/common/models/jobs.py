"""The job ledger, the transactional outbox, and worker heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from switchboard.common.db.base import Base, BigId, TenantOwned, utcnow

#: States a job can still leave; uniqueness of ``dedup_key`` holds among these.
LIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "dead", "cancelled")
_LIVE_SQL = text("status IN ('queued', 'running')")
_LIVE_DEDUP_SQL = text("status IN ('queued', 'running') AND dedup_key IS NOT NULL")
_WINDOW_SQL = text("dedup_window_key IS NOT NULL")
_RUN_SQL = text("run_id IS NOT NULL")
_CANCELLED_SQL = text("status = 'cancelled'")
_PARKED_SQL = text("parked_at IS NOT NULL AND status = 'queued'")


class Job(TenantOwned, Base):
    """One row per job (a Dramatiq message id), kept current by the ledger middleware.

    Every status change rewrites the row and adds an entry to each index it belongs to, twice
    per job, so the indexes are few and partial: only live jobs sit in the queue and dedup
    indexes, only jobs with a run id or a dedup window in theirs. ``business_id`` is indexed
    as the first column of ``ix_jobs_business_status``.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_live_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=_LIVE_DEDUP_SQL,
            sqlite_where=_LIVE_DEDUP_SQL,
        ),
        Index(
            "uq_jobs_dedup_window_key",
            "dedup_window_key",
            unique=True,
            postgresql_where=_WINDOW_SQL,
            sqlite_where=_WINDOW_SQL,
        ),
        Index("ix_jobs_business_status", "business_id", "status", "enqueued_at"),
        Index(
            "ix_jobs_live_queue",
            "queue_name",
            "status",
            "enqueued_at",
            postgresql_where=_LIVE_SQL,
            sqlite_where=_LIVE_SQL,
        ),
        Index("ix_jobs_run_id", "run_id", postgresql_where=_RUN_SQL, sqlite_where=_RUN_SQL),
        Index(
            "ix_jobs_cancelled_at",
            "updated_at",
            postgresql_where=_CANCELLED_SQL,
            sqlite_where=_CANCELLED_SQL,
        ),
        Index(
            "ix_jobs_parked",
            "queue_name",
            "business_id",
            "enqueued_at",
            postgresql_where=_PARKED_SQL,
            sqlite_where=_PARKED_SQL,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_id: Mapped[int] = mapped_column(  # overrides TenantOwned: no separate index
        BigId, ForeignKey("businesses.id", ondelete="CASCADE"), nullable=False
    )
    queue_name: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    run_id: Mapped[int | None] = mapped_column(BigId)
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    #: Set when uniqueness is for a period (or forever) rather than among live jobs only.
    dedup_window_key: Mapped[str | None] = mapped_column(String(240))
    #: A running job was cancelled: it stops at its next checkpoint, then says ``cancelled``.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The worker process (``host:pid``) that started the latest execution; while that
    #: worker's heartbeat is fresh, no other worker starts the job.
    worker_id: Mapped[str | None] = mapped_column(String(120))
    #: Set while the job waits for a slot of its business in its queue (fair share): its
    #: status says ``queued`` and no message of it is in the broker until a slot frees.
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float | None] = mapped_column(Float)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The last failed execution's traceback, masked (the operator console shows it).
    last_traceback: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(TenantOwned, Base):
    """A message written in the caller's transaction, deleted once the broker confirmed it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36))
    queue_name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class JobSlot(Base):
    """A slot of a business in a queue, held by one job (fair share, ``fair_share.py``).

    ``worker_id`` names the worker process running the job; NULL, the slot is reserved for a
    parked job published again and not started yet. Only the worker's functions (migration
    0022) write these rows.
    """

    __tablename__ = "job_slots"
    __table_args__ = (Index("ix_job_slots_business_queue", "business_id", "queue_name"),)

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    business_id: Mapped[int] = mapped_column(BigId)
    queue_name: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(120))
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobLimitDefault(Base):
    """The deployment's limit on a business's jobs executing at once in a queue (``*``: any
    other queue), as the workers last wrote it from their settings; empty while fair share
    is off. For SQL that has no settings: the WhatsApp webhook's insert (migration 0022)."""

    __tablename__ = "job_limit_defaults"

    queue_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_running: Mapped[int] = mapped_column(Integer)


class WorkerHeartbeat(Base):
    """One row per worker process, touched from inside the worker loop."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    queues: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    jobs_processed: Mapped[int] = mapped_column(Integer, default=0)
    #: The process's threads at the last beat, and of them Dramatiq's worker threads.
    threads: Mapped[int | None] = mapped_column(Integer)
    worker_threads: Mapped[int | None] = mapped_column(Integer)

"""The job ledger's state transitions, each one statement and one round trip.

The worker's middleware calls these on every message, so they use Core SQL on a pooled
connection rather than the ORM. Tenant-facing reads and cancellation live in ``service.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.logging import redact

_START = text(
    """
    UPDATE jobs SET
        deliveries = deliveries + 1,
        status = CASE WHEN deliveries + 1 - failures > :max THEN 'dead' ELSE 'running' END,
        attempts = CASE WHEN deliveries + 1 - failures > :max THEN attempts ELSE attempts + 1 END,
        finished_at = CASE WHEN deliveries + 1 - failures > :max THEN :now ELSE NULL END,
        last_error = CASE WHEN deliveries + 1 - failures > :max THEN :poison ELSE last_error END,
        started_at = :now,
        updated_at = :now
    WHERE id = :id AND status IN ('queued', 'running')
    RETURNING status, attempts, deliveries, business_id
    """
)
_SUCCEED = text(
    "UPDATE jobs SET status = 'succeeded', progress = 1.0, finished_at = :now, updated_at = :now "
    "WHERE id = :id AND status = 'running'"
)
_FAIL = text(
    "UPDATE jobs SET status = :status, failures = failures + 1, last_error = :error, "
    "finished_at = :finished, updated_at = :now WHERE id = :id AND status = 'running'"
)
_KILL = text(
    "UPDATE jobs SET status = 'dead', last_error = :error, finished_at = :now, updated_at = :now "
    "WHERE id = :id AND status IN ('queued', 'running')"
)
_STATUS = text("SELECT status FROM jobs WHERE id = :id")
_PROGRESS = text(
    "UPDATE jobs SET progress = :progress, progress_message = :message, updated_at = :now "
    "WHERE id = :id AND status = 'running' RETURNING id"
)


@dataclass(frozen=True)
class Started:
    """The ledger's answer to a delivery: run it (``running``) or dead-letter it (``dead``)."""

    status: str
    attempts: int
    deliveries: int
    business_id: int


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of an exception for the ledger and the logs."""
    return redact(f"{type(exc).__name__}: {exc}")[:1000]


def mark_started(job_id: str, *, max_unfinished: int) -> Started | None:
    """Record a delivery; None if the job is unknown or already final (skip it)."""
    poison = (
        f"dead-lettered: delivered more than {max_unfinished} times without finishing "
        "(the worker crashed or was killed while running it)"
    )
    with get_engine().begin() as conn:
        row = conn.execute(
            _START, {"id": job_id, "max": max_unfinished, "now": utcnow(), "poison": poison}
        ).first()
    return Started(row.status, row.attempts, row.deliveries, row.business_id) if row else None


def mark_succeeded(job_id: str) -> None:
    """The job's actor returned."""
    with get_engine().begin() as conn:
        conn.execute(_SUCCEED, {"id": job_id, "now": utcnow()})


def mark_failed(job_id: str, error: str, *, status: str) -> None:
    """The actor raised: ``queued`` (a retry is scheduled), ``failed``, ``dead`` or ``cancelled``."""
    now = utcnow()
    finished = None if status == "queued" else now
    with get_engine().begin() as conn:
        conn.execute(
            _FAIL,
            {"id": job_id, "status": status, "error": error, "finished": finished, "now": now},
        )


def mark_dead(job_id: str, error: str) -> None:
    """Dead-letter a job that never ran (expired before a worker reached it)."""
    with get_engine().begin() as conn:
        conn.execute(_KILL, {"id": job_id, "error": error, "now": utcnow()})


def status_of(job_id: str) -> str | None:
    """The job's status, or None if the ledger has no such job."""
    with get_engine().connect() as conn:
        return conn.execute(_STATUS, {"id": job_id}).scalar_one_or_none()


def record_progress(job_id: str, progress: float, message: str | None) -> bool:
    """Store progress for a running job; False if it is no longer running (cancelled)."""
    with get_engine().begin() as conn:
        row = conn.execute(
            _PROGRESS, {"id": job_id, "progress": progress, "message": message, "now": utcnow()}
        ).first()
    return row is not None

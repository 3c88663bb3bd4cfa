"""Worker heartbeats: one row per worker process, written from inside the worker loop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.models import WorkerHeartbeat


def record_heartbeat(worker_id: str, queues: str, processed: int, started_at: datetime) -> None:
    """Create or refresh the worker's row, adding ``processed`` jobs to its count."""
    now = utcnow()
    with system_session() as session:
        insert_ignoring_conflicts(
            session,
            WorkerHeartbeat.__table__,  # type: ignore[arg-type]
            {
                "id": worker_id,
                "queues": queues,
                "started_at": started_at,
                "beat_at": now,
                "jobs_processed": 0,
            },
        )
        session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.id == worker_id)
            .values(beat_at=now, jobs_processed=WorkerHeartbeat.jobs_processed + processed)
        )


def heartbeat_of(worker_id: str) -> WorkerHeartbeat | None:
    """The worker's row, if it has beaten."""
    with system_session() as session:
        return session.execute(
            select(WorkerHeartbeat).where(WorkerHeartbeat.id == worker_id)
        ).scalar_one_or_none()

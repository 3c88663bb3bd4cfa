"""Worker heartbeats as the operator sees them (the worker's runtime writes the rows)."""

from __future__ import annotations

from sqlalchemy import select

from switchboard.common.db.tenancy import system_session
from switchboard.common.models import WorkerHeartbeat


def heartbeat_of(worker_id: str) -> WorkerHeartbeat | None:
    """The worker's row, if it has beaten."""
    with system_session() as session:
        return session.execute(
            select(WorkerHeartbeat).where(WorkerHeartbeat.id == worker_id)
        ).scalar_one_or_none()

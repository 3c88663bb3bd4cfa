"""Job ledger rows as the worker leaves them, for the console's tests: a job enqueued for
real, then moved to the state, times and worker a run would have written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.models import Job, WorkerHeartbeat
from tests.support import actors


def job_in(
    business_id: int,
    status: str,
    *,
    ago_s: float = 60,
    waited_s: float = 2,
    spec: ActorSpec = actors.NOOP,
    error: str | None = None,
    **kwargs: Any,
) -> str:
    """A job of the business in ``status`` that finished ``ago_s`` seconds ago, after waiting
    ``waited_s`` in its queue and running one second (a running one started then)."""
    job_id = enqueue(spec, business_id=business_id, **kwargs).job_id
    finished = utcnow() - timedelta(seconds=ago_s)
    started = finished - timedelta(seconds=1)
    values: dict[str, Any] = {
        "status": status,
        "enqueued_at": started - timedelta(seconds=waited_s),
        "started_at": started if status != "queued" else None,
        "finished_at": finished if status not in ("queued", "running") else None,
        "attempts": 1,
        "last_error": error,
    }
    with tenant_session(business_id) as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))
    return job_id


def running_on(business_id: int, worker: str) -> str:
    """A job of the business running on ``worker`` (``host:pid``)."""
    job_id = job_in(business_id, "running")
    with tenant_session(business_id) as session:
        session.execute(update(Job).where(Job.id == job_id).values(worker_id=worker))
    return job_id


def heartbeat(worker: str, *, age_s: float = 0, queues: str = "test_jobs,leads") -> None:
    """``worker``'s heartbeat row (written or beaten again), last beaten ``age_s`` seconds ago."""
    beat = utcnow() - timedelta(seconds=age_s)
    with system_session() as session:
        session.merge(
            WorkerHeartbeat(
                id=worker,
                queues=queues,
                started_at=beat,
                beat_at=beat,
                threads=12,
                worker_threads=8,
            )
        )

"""Worker processes as the console shows them, with the business's jobs each is running.

The processes come from ``worker_heartbeats`` (one row per ``host:pid``, written by the
worker's runtime): the fleet is shared by every business, so its rows are read across tenants
and say nothing about anyone's data. The jobs come from the business's own ledger rows, whose
``worker_id`` names the process running them; another business's jobs are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.models import Job, WorkerHeartbeat
from switchboard.common.settings import get_settings

#: How long a silent worker stays listed (as stale) before it drops off the page.
SHOWN_FOR = timedelta(minutes=10)
_MAX_JOBS = 500


@dataclass(frozen=True)
class RunningJob:
    """A job of the business that a worker is running now."""

    id: str
    actor_name: str
    queue_name: str
    started_at: datetime | None
    progress: float | None
    cancel_requested: bool


@dataclass(frozen=True)
class WorkerRow:
    """One worker process and the business's jobs it runs."""

    id: str
    queues: list[str]
    started_at: datetime | None
    beat_at: datetime | None
    #: Its heartbeat is younger than ``WORKER_STALE_AFTER_S``; a stale one is presumed dead.
    alive: bool
    jobs: list[RunningJob] = field(default_factory=list)
    #: Seconds since its last heartbeat (None: it never beat).
    beat_age_s: float | None = None
    #: The process's threads at its last heartbeat, and of them Dramatiq's worker threads.
    threads: int | None = None
    worker_threads: int | None = None

    @property
    def host(self) -> str:
        """The host part of ``host:pid``."""
        return self.id.rpartition(":")[0] or self.id

    @property
    def pid(self) -> str:
        """The process id part of ``host:pid``."""
        return self.id.rpartition(":")[2]


def worker_rows(business_id: int, now: datetime | None = None) -> list[WorkerRow]:
    """Workers seen in the last ``SHOWN_FOR``, live ones first, each with the business's
    running jobs; a job whose worker has no heartbeat row is listed under its ``worker_id``."""
    now = now or utcnow()
    stale_after = timedelta(seconds=get_settings().worker_stale_after_s)
    with system_session() as session:  # the fleet's rows: no tenant's data
        beats = list(
            session.execute(
                select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at >= now - SHOWN_FOR)
            ).scalars()
        )
    with tenant_session(business_id) as session:
        running = session.execute(
            select(Job)
            .where(Job.business_id == business_id, Job.status == "running")
            .order_by(Job.started_at)
            .limit(_MAX_JOBS)
        ).scalars()
        jobs: dict[str, list[RunningJob]] = {}
        for job in running:
            jobs.setdefault(job.worker_id or "unknown", []).append(
                RunningJob(
                    job.id,
                    job.actor_name,
                    job.queue_name,
                    job.started_at,
                    job.progress,
                    job.cancel_requested,
                )
            )
    rows = [
        WorkerRow(
            beat.id,
            [queue for queue in beat.queues.split(",") if queue],
            as_utc(beat.started_at),
            as_utc(beat.beat_at),
            now - as_utc(beat.beat_at) < stale_after,
            jobs.pop(beat.id, []),
            max(0.0, (now - as_utc(beat.beat_at)).total_seconds()),
            beat.threads,
            beat.worker_threads,
        )
        for beat in beats
    ]
    rows += [WorkerRow(worker, [], None, None, False, orphans) for worker, orphans in jobs.items()]
    return sorted(rows, key=lambda row: (not row.alive, row.id))

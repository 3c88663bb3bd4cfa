"""A business's queues as the console shows them: what waits, for how long, and how fast
jobs go through.

Figures come from the business's own rows of the job ledger (never the broker, which other
businesses share): depth is the jobs ``queued``, the rate counts the jobs that finished in the
last ``RATE_WINDOW``. Every queue of the catalog is listed, busy or not. With fair share on,
each queue shows the business's limit on jobs executing at once (its own, else the
deployment's) and how many of its waiting jobs are parked for a free slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.jobs import catalog
from switchboard.common.jobs.fair_share import limits_in
from switchboard.common.models import Job
from switchboard.common.settings import get_settings

RATE_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class QueueRow:
    """One queue of one business."""

    queue: str
    depth: int
    running: int
    oldest_age_s: float | None
    #: Jobs finished per minute over the last ``RATE_WINDOW``.
    rate_per_min: float
    #: Of those, how many failed or died.
    failed: int = 0
    #: Of the waiting jobs, those parked until the business has a free slot in the queue.
    parked: int = 0
    #: The business's limit on its jobs executing at once here; None: fair share is off.
    limit: int | None = None


def limits_of(session: Session, business_id: int, queues: list[str]) -> dict[str, int] | None:
    """The business's limit in each queue (its own, else the deployment's); None when fair
    share is off (or embedded: SQLite runs jobs in arrival order)."""
    if not get_settings().job_fair_share or get_engine().dialect.name != "postgresql":
        return None
    return limits_in(session, business_id, queues)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def queue_rows(business_id: int, now: datetime | None = None) -> list[QueueRow]:
    """Depth, running jobs, oldest waiting age and throughput of each of the business's queues."""
    now = now or utcnow()
    since = now - RATE_WINDOW
    recent = Job.finished_at >= since
    query = (
        select(
            Job.queue_name,
            _count(Job.status == "queued"),
            _count(Job.status == "running"),
            func.min(case((Job.status == "queued", Job.enqueued_at))),
            _count(recent),
            _count(recent & Job.status.in_(("failed", "dead"))),
            _count((Job.status == "queued") & Job.parked_at.is_not(None)),
        )
        .where(Job.business_id == business_id, or_(Job.status.in_(("queued", "running")), recent))
        .group_by(Job.queue_name)
    )
    with tenant_session(business_id) as session:
        found = {row[0]: row for row in session.execute(query)}
        queues = sorted(set(catalog.queues()) | set(found))
        limits = limits_of(session, business_id, queues)
    minutes = RATE_WINDOW.total_seconds() / 60
    rows = []
    for queue in queues:
        _, depth, running, oldest, finished, failed, parked = found.get(
            queue, (queue, 0, 0, None, 0, 0, 0)
        )
        age = max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest is not None else None
        rate = round(int(finished) / minutes, 2)
        limit = limits[queue] if limits is not None else None
        rows.append(
            QueueRow(queue, int(depth), int(running), age, rate, int(failed), int(parked), limit)
        )
    return rows

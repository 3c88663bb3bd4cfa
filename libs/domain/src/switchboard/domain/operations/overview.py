"""What the dashboard's overview shows a business: live calls, queues and how jobs are doing.

Figures come from ``call_sessions`` and the job ledger, for the one business only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import CallSession, Job

WINDOW = timedelta(hours=1)
_LATENCY_SAMPLE = 1000


@dataclass(frozen=True)
class QueueFigures:
    """Jobs waiting in one queue and how long the oldest has waited."""

    queue: str
    depth: int
    oldest_age_s: float


@dataclass(frozen=True)
class Overview:
    """The overview page's numbers (throughput and latency over the last hour)."""

    active_calls: list[CallSession]
    queues: list[QueueFigures]
    running: int
    succeeded: int
    failed: int
    dead: int
    wait_p50_s: float | None
    wait_p95_s: float | None
    run_p50_s: float | None
    run_p95_s: float | None


def _aware(moment: datetime, now: datetime) -> datetime:
    return moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


def overview(business_id: int, now: datetime | None = None) -> Overview:
    """Live calls, queue depth and oldest age per queue, and the last hour's job outcomes."""
    now = now or utcnow()
    since = now - WINDOW
    with tenant_session(business_id) as session:
        calls = list(
            session.execute(
                select(CallSession)
                .where(
                    CallSession.business_id == business_id,
                    CallSession.state == "active",
                    CallSession.ended_at.is_(None),
                )
                .order_by(CallSession.id.desc())
                .limit(50)
            ).scalars()
        )
        queues = [
            QueueFigures(queue, count, max(0.0, (now - _aware(oldest, now)).total_seconds()))
            for queue, count, oldest in session.execute(
                select(Job.queue_name, func.count(), func.min(Job.enqueued_at))
                .where(Job.business_id == business_id, Job.status == "queued")
                .group_by(Job.queue_name)
                .order_by(Job.queue_name)
            )
        ]
        outcomes = dict(
            session.execute(
                select(Job.status, func.count())
                .where(
                    Job.business_id == business_id,
                    (Job.finished_at >= since) | (Job.status == "running"),
                )
                .group_by(Job.status)
            ).all()
        )
        timings = session.execute(
            select(Job.enqueued_at, Job.started_at, Job.finished_at)
            .where(
                Job.business_id == business_id,
                Job.status == "succeeded",
                Job.finished_at >= since,
            )
            .order_by(Job.finished_at.desc())
            .limit(_LATENCY_SAMPLE)
        ).all()
    waits = [(_aware(s, now) - _aware(e, now)).total_seconds() for e, s, _ in timings if e and s]
    runs = [(_aware(f, now) - _aware(s, now)).total_seconds() for _, s, f in timings if s and f]
    return Overview(
        active_calls=calls,
        queues=queues,
        running=int(outcomes.get("running", 0)),
        succeeded=int(outcomes.get("succeeded", 0)),
        failed=int(outcomes.get("failed", 0)),
        dead=int(outcomes.get("dead", 0)),
        wait_p50_s=_percentile(waits, 0.5),
        wait_p95_s=_percentile(waits, 0.95),
        run_p50_s=_percentile(runs, 0.5),
        run_p95_s=_percentile(runs, 0.95),
    )

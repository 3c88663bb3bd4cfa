"""The overview's charts: a business's jobs per minute by outcome, and how long they waited.

One query over the job ledger, for the one business: the jobs that finished in the last hour,
counted per minute and outcome, and the jobs that started in it, with their queue latency
(enqueued → started) averaged per minute. Minutes with no job are zeros (counts) or gaps
(latency), so every chart spans the whole hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, String, func, literal, null, select, union_all

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import Job
from switchboard.domain.operations.ledger_time import MinuteOf, SecondsBetween

MINUTES = 60
#: The outcomes the throughput chart shows, in its legend's order.
OUTCOMES = ("succeeded", "failed", "dead")
_LATENCY = "latency"


@dataclass(frozen=True)
class JobSeries:
    """Per-minute figures over the last hour; every list has one value per minute."""

    #: The start of each minute, as Unix seconds (what the charts plot on their x axis).
    minutes: list[int]
    #: Outcome -> jobs that finished so in each minute.
    finished: dict[str, list[int]]
    #: Average and longest queue latency (s) of the jobs started in each minute (None: none).
    latency_avg_s: list[float | None]
    latency_max_s: list[float | None]

    def as_json(self) -> dict[str, Any]:
        """The series as the charts read them."""
        return {
            "minutes": self.minutes,
            "finished": self.finished,
            "latency_avg_s": self.latency_avg_s,
            "latency_max_s": self.latency_max_s,
        }

    @property
    def total_finished(self) -> int:
        """Jobs that finished in the hour with one of the charted outcomes."""
        return sum(sum(counts) for counts in self.finished.values())


def job_series(business_id: int, now: datetime | None = None) -> JobSeries:
    """The business's jobs per minute by outcome and queue latency per minute, last hour."""
    now = now or utcnow()
    last = int(now.timestamp()) // 60
    first = last - MINUTES + 1
    since = datetime.fromtimestamp(first * 60, tz=UTC)
    owned = Job.business_id == business_id
    finished_minute = MinuteOf(Job.finished_at)
    started_minute = MinuteOf(Job.started_at)
    wait = SecondsBetween(Job.enqueued_at, Job.started_at)
    finished = (
        select(
            finished_minute.label("minute"),
            Job.status.label("kind"),
            func.count().label("jobs"),
            null().cast(Float).label("avg_s"),
            null().cast(Float).label("max_s"),
        )
        .where(owned, Job.status.in_(OUTCOMES), Job.finished_at >= since)
        .group_by(finished_minute, Job.status)
    )
    started = (
        select(
            started_minute.label("minute"),
            literal(_LATENCY, String).label("kind"),
            func.count().label("jobs"),
            func.avg(wait).label("avg_s"),
            func.max(wait).label("max_s"),
        )
        .where(owned, Job.started_at >= since)
        .group_by(started_minute)
    )
    with tenant_session(business_id) as session:
        rows = session.execute(union_all(finished, started)).all()
    counts = {outcome: [0] * MINUTES for outcome in OUTCOMES}
    avg: list[float | None] = [None] * MINUTES
    longest: list[float | None] = [None] * MINUTES
    for minute, kind, jobs, avg_s, max_s in rows:
        slot = int(minute) - first
        if not 0 <= slot < MINUTES:
            continue  # a clock a little ahead of the database's: outside the hour shown
        if kind == _LATENCY:
            avg[slot] = round(max(0.0, float(avg_s)), 3) if avg_s is not None else None
            longest[slot] = round(max(0.0, float(max_s)), 3) if max_s is not None else None
        else:
            counts[kind][slot] += int(jobs)
    minutes = [(first + slot) * 60 for slot in range(MINUTES)]
    return JobSeries(minutes, counts, avg, longest)

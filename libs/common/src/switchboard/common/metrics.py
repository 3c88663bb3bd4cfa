"""Prometheus metrics shared by the services, including queue figures read from the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.models.jobs import Job


def _age_seconds(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, (now - as_utc(oldest)).total_seconds())


#: How the worker's ledger begins ``last_error`` of a time-bound job that expired unstarted.
EXPIRED_PREFIX = "expired:"


class LedgerCollector(Collector):
    """Queue depth, oldest queued job age, job counts by status and expired jobs by actor,
    read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "switchboard_queue_depth", "Jobs waiting per queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "switchboard_queue_oldest_age_seconds",
            "Age of the oldest waiting job",
            labels=["queue"],
        )
        by_status = GaugeMetricFamily(
            "switchboard_jobs", "Jobs in the ledger by status", labels=["status"]
        )
        expired = CounterMetricFamily(
            "switchboard_jobs_expired",
            "Time-bound jobs the ledger records as expired before a worker started them",
            labels=["actor"],
        )
        now = utcnow()
        with system_session() as session:
            for queue, count, oldest in session.execute(
                select(Job.queue_name, func.count(), func.min(Job.enqueued_at))
                .where(Job.status == "queued")
                .group_by(Job.queue_name)
            ):
                depth.add_metric([queue], count)
                age.add_metric([queue], _age_seconds(oldest, now))
            for status, count in session.execute(
                select(Job.status, func.count()).group_by(Job.status)
            ):
                by_status.add_metric([status], count)
            for actor, count in session.execute(
                select(Job.actor_name, func.count())
                .where(Job.status == "dead", Job.last_error.startswith(EXPIRED_PREFIX))
                .group_by(Job.actor_name)
            ):
                expired.add_metric([actor], count)
        yield depth
        yield age
        yield by_status
        yield expired

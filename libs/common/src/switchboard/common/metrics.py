"""Prometheus metrics shared by the services, including queue figures read from the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.models.jobs import Job


def _age_seconds(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, (now - as_utc(oldest)).total_seconds())


class LedgerCollector(Collector):
    """Queue depth, oldest queued job age and job counts by status, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
        yield depth
        yield age
        yield by_status

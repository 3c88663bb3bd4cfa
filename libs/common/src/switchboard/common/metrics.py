"""Prometheus metrics shared by the services, including queue figures read from the ledger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import system_session
from switchboard.common.models.jobs import Job
from switchboard.common.settings import get_settings

#: The ``business`` label of the businesses beyond the top N of a queue, summed.
OTHER = "other"


def _age_seconds(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, (now - as_utc(oldest)).total_seconds())


def top_businesses(
    rows: Sequence[tuple[str, int, int, datetime | None]], top: int, now: datetime
) -> list[tuple[str, str, int, float]]:
    """(queue, business label, depth, oldest age) for each queue's ``top`` businesses with the
    most jobs waiting, and the rest of the queue's businesses as one ``other`` (depths
    summed, the oldest of their ages): at most ``top + 1`` label sets per queue, however
    many businesses there are. ``rows``: (queue, business id, depth, oldest enqueued)."""
    by_queue: dict[str, list[tuple[int, int, datetime | None]]] = {}
    for queue, business, depth, oldest in rows:
        by_queue.setdefault(queue, []).append((business, depth, oldest))
    found: list[tuple[str, str, int, float]] = []
    for queue, businesses in sorted(by_queue.items()):
        businesses.sort(key=lambda row: (-row[1], row[0]))
        for business, depth, oldest in businesses[:top]:
            found.append((queue, str(business), depth, _age_seconds(oldest, now)))
        rest = businesses[top:]
        if rest:
            ages = [_age_seconds(oldest, now) for _, _, oldest in rest]
            found.append((queue, OTHER, sum(depth for _, depth, _ in rest), max(ages)))
    return found


#: How the worker's ledger begins ``last_error`` of a time-bound job that expired unstarted.
EXPIRED_PREFIX = "expired:"


class LedgerCollector(Collector):
    """Queue depth, oldest queued job age (per queue, and per business: the top N of each
    queue by depth and ``other``), job counts by status and expired jobs by actor, read at
    scrape time."""

    #: The ``source`` label of ``switchboard_metrics_source_up``.
    source = "ledger"

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "switchboard_queue_depth", "Jobs waiting per queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "switchboard_queue_oldest_age_seconds",
            "Age of the oldest waiting job",
            labels=["queue"],
        )
        business_depth = GaugeMetricFamily(
            "switchboard_business_queue_depth",
            "Jobs waiting per queue and business (the queue's top businesses, the rest as other)",
            labels=["queue", "business"],
        )
        business_age = GaugeMetricFamily(
            "switchboard_business_queue_oldest_age_seconds",
            "Age of the oldest waiting job per queue and business (top businesses, then other)",
            labels=["queue", "business"],
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
            waiting = [
                (str(queue), int(business), int(count), oldest)
                for queue, business, count, oldest in session.execute(
                    select(Job.queue_name, Job.business_id, func.count(), func.min(Job.enqueued_at))
                    .where(Job.status == "queued")
                    .group_by(Job.queue_name, Job.business_id)
                )
            ]
            top = get_settings().metrics_top_businesses
            for queue, label, count, seconds in top_businesses(waiting, top, now):
                business_depth.add_metric([queue, label], count)
                business_age.add_metric([queue, label], seconds)
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
        yield business_depth
        yield business_age
        yield by_status
        yield expired

"""What a scheduler reports: leader or follower, and per schedule its last and next run and how
much it emitted (``/health``, ``/metrics``, ``switchboard scheduler --list``).

The counts and last ticks are read from ``schedule_ticks``, so a follower reports the same as
the leader, and a new leader goes on counting where the old one stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import delete, select

from switchboard.common.db.base import as_utc
from switchboard.common.db.tenancy import system_session
from switchboard.common.jobs.schedules import AtStart, Schedule, Zone
from switchboard.common.models import Business, ScheduleTick
from switchboard.common.utc_text import utc_text
from switchboard.scheduler.timetable import UTC_ZONE, describe, next_after, zone_info

#: What ``/health`` says while ENABLE_SCHEDULERS=false.
EMISSION_OFF = (
    "ENABLE_SCHEDULERS=false: no periodic job is emitted; the outbox relay and the outbound "
    "safety checks still run"
)


@dataclass(frozen=True)
class ScheduleStatus:
    """One schedule in one zone."""

    name: str
    job: str
    when: str
    missed: str
    zone: str
    last_run: datetime | None
    next_run: datetime | None
    ticks_emitted: int
    jobs_emitted: int

    def as_json(self) -> dict[str, object]:
        """For ``/health``."""
        return {
            "name": self.name,
            "job": self.job,
            "when": self.when,
            "missed": self.missed,
            "zone": self.zone,
            "last_run": self.last_run and utc_text(self.last_run),
            "next_run": self.next_run and utc_text(self.next_run),
            "ticks_emitted": self.ticks_emitted,
            "jobs_emitted": self.jobs_emitted,
        }


def business_zones(*, forget_others: bool = False) -> list[str]:
    """The time zones businesses are in.

    With ``forget_others`` (the leader, each time it reads them), the tick records of every
    other zone but ``UTC`` go in the same transaction: a zone whose last business left or moved
    keeps none for ever, and one a business comes to later starts from its latest tick, as a
    new zone does. The leader alone writes tick records, and only for the zones it read here.
    """
    with system_session() as session:
        zones = sorted(set(session.execute(select(Business.timezone).distinct()).scalars()))
        if forget_others:
            session.execute(
                delete(ScheduleTick).where(ScheduleTick.zone.not_in([UTC_ZONE, *zones]))
            )
        return zones


def read_status(schedules: Sequence[Schedule], now: datetime) -> list[ScheduleStatus]:
    """Every schedule's stored state and next run, one line per zone it ticks in."""
    with system_session() as session:
        rows = {(r.schedule, r.zone): r for r in session.execute(select(ScheduleTick)).scalars()}
    zones = business_zones() if any(s.zone is Zone.BUSINESS for s in schedules) else []
    return status_lines(schedules, now, rows, zones)


def status_lines(
    schedules: Sequence[Schedule],
    now: datetime,
    rows: Mapping[tuple[str, str], ScheduleTick],
    zones: Sequence[str],
) -> list[ScheduleStatus]:
    """The lines of :func:`read_status` from the stored ``rows`` and the businesses' ``zones``."""
    found = []
    for schedule in schedules:
        for zone in zones if schedule.zone is Zone.BUSINESS else [UTC_ZONE]:
            row = rows.get((schedule.name, zone))
            last = as_utc(row.last_tick_at) if row and row.last_tick_at else None
            found.append(
                ScheduleStatus(
                    schedule.name,
                    schedule.job.name,
                    describe(schedule),
                    "-" if isinstance(schedule.when, AtStart) else schedule.missed.value,
                    zone,
                    last,
                    _next_run(schedule, zone, last, now),
                    row.ticks_emitted if row else 0,
                    row.jobs_emitted if row else 0,
                )
            )
    return found


def _next_run(
    schedule: Schedule, zone: str, last: datetime | None, now: datetime
) -> datetime | None:
    if isinstance(schedule.when, AtStart):
        return None
    following = next_after(schedule.when, zone_info(zone), last or now)
    # A tick due already (missed while no scheduler led) is emitted at once.
    return max(following, now) if following is not None else None


@dataclass
class SchedulerState:
    """This process's view: its role, whether it emits, and the schedules' latest status."""

    emitting: bool
    leader: bool = False
    leading_since: datetime | None = None
    schedules: list[ScheduleStatus] = field(default_factory=list)

    def health(self) -> dict[str, object]:
        """The scheduler's part of ``/health``."""
        return {
            "role": "leader" if self.leader else "follower",
            "leading_since": self.leading_since and utc_text(self.leading_since),
            "emitting": self.emitting,
            **({} if self.emitting else {"emission": EMISSION_OFF}),
            "schedules": [status.as_json() for status in self.schedules],
        }


class SchedulerCollector(Collector):
    """``/metrics``: the role, the switch, and per schedule and zone its last and next run
    (Unix seconds) and the ticks and jobs it emitted."""

    #: The ``source`` label of ``switchboard_metrics_source_up``.
    source = "scheduler"

    def __init__(self, state: Callable[[], SchedulerState]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        yield GaugeMetricFamily(
            "switchboard_scheduler_leader", "1 if this scheduler leads", value=int(state.leader)
        )
        yield GaugeMetricFamily(
            "switchboard_scheduler_emitting",
            "0 while ENABLE_SCHEDULERS=false stops every periodic job",
            value=int(state.emitting),
        )
        labels = ["schedule", "zone"]
        last = GaugeMetricFamily(
            "switchboard_scheduler_last_run_timestamp_seconds", "Last tick emitted", labels=labels
        )
        following = GaugeMetricFamily(
            "switchboard_scheduler_next_run_timestamp_seconds", "Next tick due", labels=labels
        )
        ticks = CounterMetricFamily(
            "switchboard_scheduler_ticks_emitted", "Ticks emitted", labels=labels
        )
        jobs = CounterMetricFamily(
            "switchboard_scheduler_jobs_emitted", "Jobs the ticks created", labels=labels
        )
        for status in state.schedules:
            key = [status.name, status.zone]
            if status.last_run is not None:
                last.add_metric(key, status.last_run.timestamp())
            if status.next_run is not None:
                following.add_metric(key, status.next_run.timestamp())
            ticks.add_metric(key, status.ticks_emitted)
            jobs.add_metric(key, status.jobs_emitted)
        yield from (last, following, ticks, jobs)

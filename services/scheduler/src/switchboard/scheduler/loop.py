"""The scheduler loop: every half second, lead or follow; the leader relays the outbox and
emits each schedule's due tick (unless ENABLE_SCHEDULERS=false, when it runs the domains'
safety checks itself instead).

The loop keeps, per schedule and zone, when to look next (the tick after the stored last one),
so a look costs the database only when a tick is due. A new leader forgets those and looks at
every schedule at once: the tick the old leader missed is emitted straight away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from switchboard.common.db.statistics import analyze_new_tables
from switchboard.common.jobs.outbox import relay_outbox
from switchboard.common.jobs.schedules import AtStart, Schedule, Zone
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings
from switchboard.scheduler.clock import Clock, SystemClock
from switchboard.scheduler.emission import Outcome, emit_due
from switchboard.scheduler.leader import Leadership
from switchboard.scheduler.registry import Registry
from switchboard.scheduler.schedule import Periodic
from switchboard.scheduler.status import (
    EMISSION_OFF,
    SchedulerState,
    business_zones,
    read_status,
)
from switchboard.scheduler.timetable import UTC_ZONE, next_after, zone_info

log = get_logger(__name__)

POLL_S = 0.5
#: How often the zones businesses are in, and the status /health shows, are read again.
ZONES_REFRESH_S = 30.0
STATUS_REFRESH_S = 2.0
#: A tick whose emission failed (the database away) is tried again this much later.
RETRY_AFTER = timedelta(seconds=1)
_NEVER = datetime.max.replace(tzinfo=UTC)


def platform_tasks(settings: Settings, registry: Registry) -> list[Periodic]:
    """What the leader does itself: the outbox relay and new tables' statistics always, the
    domains' safety checks while emission is off."""
    return [
        Periodic(
            "outbox_relay",
            settings.outbox_relay_interval_s,
            lambda: relay_outbox(min_age_s=settings.outbox_relay_min_age_s),
        ),
        # A new database's tables get statistics within seconds, not autovacuum's minute.
        Periodic("new_table_statistics", 5, analyze_new_tables),
        *(Periodic(c.name, c.every_s, c.run, safety=True) for c in registry.safety_checks),
    ]


class Scheduler:
    """One scheduler process: leader or follower, its schedules, its view of them."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        clock: Clock | None = None,
        leadership: Leadership | None = None,
        tasks: list[Periodic] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.clock = clock or SystemClock()
        self.leadership = leadership or Leadership()
        self.tasks = tasks if tasks is not None else platform_tasks(settings, registry)
        self.state = SchedulerState(emitting=settings.enable_schedulers)
        self._look_at: dict[tuple[str, str], datetime] = {}
        self._zones: list[str] = []
        self._zones_read_at: float | None = None
        self._status_read_at: float | None = None
        self._unreachable = False

    def step(self) -> list[Outcome]:
        """One pass: lead or follow; as leader, run what is due. Returns the looks taken."""
        now = self.clock.now()
        outcomes: list[Outcome] = []
        if self._lead(now):
            self._run_tasks()
            if self.settings.enable_schedulers:
                outcomes = self._emit(now)
        self._refresh_status(now, force=any(o.decision for o in outcomes))
        return outcomes

    def _lead(self, now: datetime) -> bool:
        try:
            leader = self.leadership.try_acquire()
            self._unreachable = False
        except Exception as exc:  # the database is away: follow until it is back
            if not self._unreachable:  # once per outage, not twice a second
                log.warning("scheduler.database_unreachable", error=type(exc).__name__)
            self._unreachable, leader = True, False
        if leader and not self.state.leader:
            self.state.leading_since = now
            self._look_at.clear()
            self._zones_read_at = None
            log.info("scheduler.leading", since=now.isoformat())
        elif not leader and self.state.leader:
            self.state.leading_since = None
            log.warning("scheduler.following", reason="leadership lost")
        self.state.leader = leader
        return leader

    def _run_tasks(self) -> None:
        monotonic = self.clock.monotonic()
        for task in self.tasks:
            if not task.due(monotonic) or (task.safety and self.settings.enable_schedulers):
                continue
            try:
                task.run()
            except Exception as exc:  # one failing task must not stop the others
                log.error(
                    "scheduler.task_failed",
                    task=task.name,
                    error=redact(f"{type(exc).__name__}: {exc}"),
                )
            task.done(monotonic)

    def _tracks(self) -> Iterator[tuple[Schedule, str]]:
        """Every (schedule, zone) the leader follows."""
        if any(s.zone is Zone.BUSINESS for s in self.registry.schedules):
            self._read_zones()
        for schedule in self.registry.schedules:
            for zone in self._zones if schedule.zone is Zone.BUSINESS else [UTC_ZONE]:
                yield schedule, zone

    def _read_zones(self) -> None:
        monotonic = self.clock.monotonic()
        if self._zones_read_at is not None and monotonic - self._zones_read_at < ZONES_REFRESH_S:
            return
        try:
            self._zones = business_zones(forget_others=True)
            self._zones_read_at = monotonic
            # A zone gone is looked at afresh should it come back (its record went too).
            kept = {UTC_ZONE, *self._zones}
            self._look_at = {key: at for key, at in self._look_at.items() if key[1] in kept}
        except Exception as exc:  # keep the zones known; try again next pass
            log.warning("scheduler.zones_unread", error=type(exc).__name__)

    def _emit(self, now: datetime) -> list[Outcome]:
        outcomes = []
        assert self.state.leading_since is not None
        for schedule, zone in self._tracks():
            key = (schedule.name, zone)
            if now < self._look_at.get(key, now):
                continue
            try:
                outcome = emit_due(schedule, zone, now, self.state.leading_since)
            except Exception as exc:  # stored nothing: the tick is emitted by a later look
                log.error(
                    "scheduler.emit_failed",
                    schedule=schedule.name,
                    zone=zone,
                    error=redact(f"{type(exc).__name__}: {exc}"),
                )
                self._look_at[key] = now + RETRY_AFTER
                continue
            self._look_at[key] = self._next_look(schedule, zone, outcome.last_tick, now)
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _next_look(schedule: Schedule, zone: str, last: datetime | None, now: datetime) -> datetime:
        if isinstance(schedule.when, AtStart):
            return _NEVER  # once per leadership
        following = next_after(schedule.when, zone_info(zone), last or now)
        return following or _NEVER

    def _refresh_status(self, now: datetime, *, force: bool = False) -> None:
        monotonic = self.clock.monotonic()
        last = self._status_read_at
        if not force and last is not None and monotonic - last < STATUS_REFRESH_S:
            return
        try:
            self.state.schedules = read_status(self.registry.schedules, now)
            self._status_read_at = monotonic
        except Exception as exc:  # /health keeps the last status read
            log.debug("scheduler.status_unread", error=type(exc).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Step every :data:`POLL_S` until ``stop`` is set; then let go of leadership."""
        log.info(
            "scheduler.started",
            emitting=self.settings.enable_schedulers,
            schedules=[s.name for s in self.registry.schedules],
        )
        if not self.settings.enable_schedulers:
            log.warning("scheduler.emission_off", reason=EMISSION_OFF)
        try:
            while not stop.is_set():
                self.step()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=POLL_S)
                except TimeoutError:
                    pass
        finally:
            self.leadership.release()

"""Emitting a schedule's tick: exactly once, whichever scheduler does it and whenever it dies.

One transaction per schedule and zone: lock the schedule's ``schedule_ticks`` row, decide the
tick that is due from the stored last one, enqueue one job per target with a key naming the
schedule, the tick and the business, and store the tick. A scheduler that dies half-way
leaves nothing (the next leader emits the tick); two that try at once queue on the row's lock,
and the second finds the tick stored. The key makes a repeat harmless even so. One that stops
half-way without dying (a paused VM, a stuck call) holds the row's lock until PostgreSQL ends
its transaction, idle for ``LEADER_SILENCE_S``: the next leader waits that long, not for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc
from switchboard.common.db.tenancy import system_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.jobs import FOREVER, enqueue_unique
from switchboard.common.jobs.schedules import AtStart, Missed, Schedule, Tick, Zone
from switchboard.common.logging import get_logger
from switchboard.common.models import ScheduleTick
from switchboard.scheduler.leader import LEADER_SILENCE_S
from switchboard.scheduler.timetable import latest_at_or_before, next_after, zone_info

log = get_logger(__name__)

#: A tick of a :attr:`Missed.SKIP` schedule first seen later than this is dropped.
LATE_AFTER = timedelta(minutes=1)

Decision = Literal["emit", "skip", "baseline"]


@dataclass(frozen=True)
class Outcome:
    """What one look at a schedule's zone did."""

    schedule: str
    zone: str
    #: The schedule's last tick after this look (stored).
    last_tick: datetime | None
    #: What happened to the tick that was due (None: none was).
    decision: Decision | None = None
    #: Jobs this look created.
    jobs: int = 0


def tick_key(schedule: Schedule, tick: datetime, business_id: int) -> str:
    """The job's unique key: one job per schedule, tick and business, ever."""
    return f"schedule:{schedule.name}:{tick.isoformat()}:{business_id}"


def decide(
    schedule: Schedule,
    tz: tzinfo,
    last: datetime | None,
    now: datetime,
    leading_since: datetime,
) -> tuple[datetime, Decision] | None:
    """The tick due at ``now`` after the stored ``last`` one, and what to do with it.

    A schedule seen for the first time starts from its latest tick without emitting it (there
    was nothing to miss); :data:`~switchboard.common.jobs.schedules.AT_START` ticks once per
    leadership, at ``leading_since``.
    """
    if isinstance(schedule.when, AtStart):
        return (leading_since, "emit") if last is None or last < leading_since else None
    latest = latest_at_or_before(schedule.when, tz, now)
    if latest is None:
        return None
    if last is None:
        return latest, "baseline"
    if latest <= last:
        return None
    if schedule.missed is Missed.SKIP and now - latest > LATE_AFTER:
        return latest, "skip"
    return latest, "emit"


def _locked_row(session: Session, schedule: str, zone: str, now: datetime) -> ScheduleTick:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)"),
            {"ms": str(LEADER_SILENCE_S * 1000)},
        )
    insert_ignoring_conflicts(
        session,
        ScheduleTick.__table__,  # type: ignore[arg-type]
        {
            "schedule": schedule,
            "zone": zone,
            "last_tick_at": None,
            "ticks_emitted": 0,
            "jobs_emitted": 0,
            "updated_at": now,
        },
    )
    return session.execute(
        select(ScheduleTick)
        .where(ScheduleTick.schedule == schedule, ScheduleTick.zone == zone)
        .with_for_update()
    ).scalar_one()


def emit_due(schedule: Schedule, zone: str, now: datetime, leading_since: datetime) -> Outcome:
    """Emit ``schedule``'s tick due at ``now`` for ``zone``, if one is, and store it."""
    with system_session() as session:
        row = _locked_row(session, schedule.name, zone, now)
        last = as_utc(row.last_tick_at) if row.last_tick_at is not None else None
        due = decide(schedule, zone_info(zone), last, now, leading_since)
        if due is None:
            return Outcome(schedule.name, zone, last)
        tick, decision = due
        jobs = 0
        if decision == "emit":
            scope = Tick(tick, zone if schedule.zone is Zone.BUSINESS else None)
            for business_id in sorted(set(schedule.targets(session, scope))):
                ref = enqueue_unique(
                    schedule.job,
                    key=tick_key(schedule, tick, business_id),
                    business_id=business_id,
                    period=FOREVER,
                    ttl=schedule.ttl_s,
                )
                jobs += ref.created
            row.ticks_emitted += 1
            row.jobs_emitted += jobs
        row.last_tick_at, row.updated_at = tick, now
    _log(schedule, zone, tick, decision, last, jobs)
    return Outcome(schedule.name, zone, tick, decision, jobs)


def _log(
    schedule: Schedule,
    zone: str,
    tick: datetime,
    decision: Decision,
    last: datetime | None,
    jobs: int,
) -> None:
    first_due = next_after(schedule.when, zone_info(zone), last) if last is not None else None
    caught_up = first_due is not None and first_due < tick
    fields = {"schedule": schedule.name, "zone": zone, "tick": tick.isoformat(), "jobs": jobs}
    if decision == "skip":
        log.info("scheduler.tick_skipped", **fields)
    elif caught_up and first_due is not None:
        # Ticks from first_due to tick were missed (no leader): they become this one run.
        log.info("scheduler.caught_up", **fields, missed_from=first_due.isoformat())
    elif decision == "emit" and (jobs or isinstance(schedule.when, AtStart)):
        log.info("scheduler.tick", **fields)
    else:
        log.debug("scheduler.tick", **fields, decision=decision)

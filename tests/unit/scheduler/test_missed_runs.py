"""Ticks missed while no scheduler led: caught up once, coalesced, or dropped, as declared; a
tick is emitted once however many schedulers look, and a failed emission leaves no gap."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import CLEANUP_OLD_RECORDINGS, SCHEDULE_REMINDERS
from switchboard.common.jobs.schedules import Cron, Every, Missed, Schedule, Tick
from switchboard.common.models import Business
from switchboard.common.settings import Settings
from switchboard.scheduler.clock import FakeClock
from tests.unit.scheduler.rows import (
    SECOND,
    at,
    business_in,
    due_reminder,
    emitted,
    old_recording,
    scheduler_for,
    stored_ticks,
)


def test_the_daily_cleanup_catches_up_once_after_days_without_a_scheduler(
    embedded: Settings,
) -> None:
    business_id = business_in()
    old_recording(business_id)
    clock = FakeClock(at(2027, 3, 12, 2))
    scheduler_for(embedded, clock, "recording_cleanup").step()

    clock.set(at(2027, 3, 15, 14))  # down through three 03:00s
    restarted = scheduler_for(embedded, clock, "recording_cleanup")
    outcomes = restarted.step()
    assert [(o.decision, o.jobs) for o in outcomes] == [("emit", 1)]
    clock.advance(timedelta(hours=1))
    assert [o for o in restarted.step() if o.decision] == []
    clock.set(at(2027, 3, 16, 3))
    restarted.step()

    assert emitted(CLEANUP_OLD_RECORDINGS.name) == [
        (at(2027, 3, 15, 3), business_id),
        (at(2027, 3, 16, 3), business_id),
    ]


@pytest.mark.parametrize(
    ("zone", "down_at", "back_at", "ticks"),
    [
        # New York springs forward on 14 March 2027: that 03:00 is 07:00 UTC, not 08:00.
        (
            "America/New_York",
            at(2027, 3, 13, 20),
            at(2027, 3, 14, 12),
            [at(2027, 3, 14, 7), at(2027, 3, 15, 7)],
        ),
        # Chatham falls back from +13:45 to +12:45 at 03:45 on 4 April 2027: 03:00 comes
        # twice (13:15 and 14:15 UTC on the 3rd) and is run once.
        (
            "Pacific/Chatham",
            at(2027, 4, 3, 10),
            at(2027, 4, 3, 14, 30),
            [at(2027, 4, 3, 13, 15), at(2027, 4, 4, 14, 15)],
        ),
    ],
)
def test_a_cleanup_missed_across_a_clock_change_runs_once_on_return(
    embedded: Settings, zone: str, down_at: datetime, back_at: datetime, ticks: list[datetime]
) -> None:
    """Down through the night the clocks change: the missed 03:00 runs once when a scheduler
    is back, and the next at 03:00 on the business's wall clock (looks every 15 minutes)."""
    business_id = business_in(zone)
    old_recording(business_id)
    clock = FakeClock(down_at)
    scheduler_for(embedded, clock, "recording_cleanup").step()

    clock.set(back_at)
    restarted = scheduler_for(embedded, clock, "recording_cleanup")
    assert [(o.zone, o.decision, o.jobs) for o in restarted.step()] == [(zone, "emit", 1)]
    for _ in range(4 * 30):
        clock.advance(timedelta(minutes=15))
        restarted.step()

    assert emitted(CLEANUP_OLD_RECORDINGS.name) == [(tick, business_id) for tick in ticks]


def test_an_hour_of_minute_scans_missed_coalesces_into_one_scan(embedded: Settings) -> None:
    business_id = business_in()
    due_reminder(business_id)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    scheduler_for(embedded, clock, "reminders").step()

    clock.set(at(2027, 1, 1, 13, 0, 30))
    restarted = scheduler_for(embedded, clock, "reminders")
    restarted.step()
    clock.set(at(2027, 1, 1, 13, 1))
    restarted.step()

    assert emitted(SCHEDULE_REMINDERS.name) == [
        (at(2027, 1, 1, 13, 0), business_id),
        (at(2027, 1, 1, 13, 1), business_id),
    ]


def every_business(session: Session, tick: Tick) -> Iterable[int]:
    return session.execute(select(Business.id)).scalars()


def test_a_skipping_schedule_drops_a_tick_seen_late_and_goes_on_with_the_next(
    embedded: Settings,
) -> None:
    business_id = business_in()
    morning = Schedule(
        "morning", SCHEDULE_REMINDERS, Cron("0 9 * * *"), every_business, missed=Missed.SKIP
    )
    clock = FakeClock(at(2027, 1, 1, 8))
    scheduler = scheduler_for(embedded, clock, extra=(morning,))
    scheduler.step()

    clock.set(at(2027, 1, 1, 9, 0, 30))  # half a minute late: still on time
    assert [o.decision for o in scheduler.step()] == ["emit"]
    clock.set(at(2027, 1, 2, 15))  # six hours late: dropped
    assert [o.decision for o in scheduler.step()] == ["skip"]
    assert stored_ticks()[("morning", "UTC")] is not None
    clock.set(at(2027, 1, 3, 9))
    assert [o.decision for o in scheduler.step()] == ["emit"]

    assert emitted(SCHEDULE_REMINDERS.name) == [
        (at(2027, 1, 1, 9), business_id),
        (at(2027, 1, 3, 9), business_id),
    ]


def test_a_tick_whose_emission_failed_is_emitted_by_the_next_look(embedded: Settings) -> None:
    business_id = business_in()
    failures = [RuntimeError("the database went away mid-tick")]

    def flaky(session: Session, tick: Tick) -> Iterable[int]:
        if failures:
            raise failures.pop()
        return [business_id]

    schedule = Schedule("flaky", SCHEDULE_REMINDERS, Every(60), flaky)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    scheduler = scheduler_for(embedded, clock, extra=(schedule,))
    scheduler.step()

    clock.set(at(2027, 1, 1, 12, 1))
    assert scheduler.step() == []  # failed: nothing emitted, nothing stored
    assert emitted(SCHEDULE_REMINDERS.name) == []
    assert stored_ticks()[("flaky", "UTC")] == at(2027, 1, 1, 12, 0)
    clock.advance(SECOND)
    scheduler.step()

    assert emitted(SCHEDULE_REMINDERS.name) == [(at(2027, 1, 1, 12, 1), business_id)]


def test_two_schedulers_looking_at_the_same_tick_emit_it_once(embedded: Settings) -> None:
    business_id = business_in()
    due_reminder(business_id)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    first = scheduler_for(embedded, clock, "reminders")
    second = scheduler_for(embedded, clock, "reminders")
    first.step()
    second.step()

    for minute in (1, 2, 3):
        clock.set(at(2027, 1, 1, 12, minute))
        decisions = [o.decision for s in (first, second) for o in s.step()]
        assert decisions == ["emit", None]

    assert emitted(SCHEDULE_REMINDERS.name) == [
        (at(2027, 1, 1, 12, minute), business_id) for minute in (1, 2, 3)
    ]

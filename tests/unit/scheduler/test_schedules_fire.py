"""Each of the seed's schedules emits its job when it should, for the businesses it should."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from switchboard.common.db.base import utcnow
from switchboard.common.jobs.catalog import (
    AUTO_SUMMARY_WHATSAPP_SESSION,
    CLEANUP_OLD_RECORDINGS,
    END_STALE_CALLS,
    OUTBOUND_RECONCILE,
    PRUNE_FINISHED_JOBS,
    SCHEDULE_REMINDERS,
    WARMUP_AGENTS,
    WARMUP_LAZY_SERVICES,
)
from switchboard.common.settings import Settings
from switchboard.domain.calls.stale import quiet_limit
from switchboard.scheduler.clock import FakeClock
from switchboard.scheduler.loop import ZONES_REFRESH_S, Scheduler
from tests.support.calls import started_call
from tests.support.factories import make_business
from tests.unit.scheduler.rows import (
    SECOND,
    at,
    business_in,
    due_reminder,
    emitted,
    emitted_jobs,
    ended_run_in_flight,
    idle_session,
    kwargs_of,
    move_business,
    old_recording,
    orphaned_run,
    scheduler_for,
    stored_ticks,
)


def emits_at(scheduler: Scheduler, clock: FakeClock, tick: datetime) -> list[str]:
    """Step just before ``tick`` (nothing may be emitted) and at it; the zones emitted."""
    clock.set(tick - SECOND)
    assert [o for o in scheduler.step() if o.decision == "emit"] == []
    clock.set(tick)
    return [o.zone for o in scheduler.step() if o.decision == "emit"]


def test_the_cleanup_runs_at_three_on_each_business_s_own_clock_across_dst(
    embedded: Settings,
) -> None:
    zones = {"America/New_York": business_in("America/New_York")}
    zones["Europe/Berlin"] = business_in("Europe/Berlin")
    for business_id in zones.values():
        old_recording(business_id)
    clock = FakeClock(at(2027, 3, 11, 12))
    scheduler = scheduler_for(embedded, clock, "recording_cleanup")
    scheduler.step()  # the first look only notes where the schedule stands

    # New York moves its clocks on 14 March, Berlin on 28 March.
    expected = sorted(
        (datetime(2027, 3, day, 3, tzinfo=ZoneInfo(zone)).astimezone(UTC), bid)
        for day in range(12, 31)
        for zone, bid in zones.items()
    )
    for tick, business_id in expected:
        zone = next(z for z, b in zones.items() if b == business_id)
        assert emits_at(scheduler, clock, tick) == [zone], tick

    assert emitted(CLEANUP_OLD_RECORDINGS.name) == expected
    new_york = [t for t, b in expected if b == zones["America/New_York"]]
    assert {t.hour for t in new_york[:2]} == {8} and {t.hour for t in new_york[2:]} == {7}
    berlin = [t for t, b in expected if b == zones["Europe/Berlin"]]
    assert {t.hour for t in berlin[:16]} == {2} and {t.hour for t in berlin[16:]} == {1}


def test_reminders_are_scanned_every_minute_for_businesses_with_reminders_due(
    embedded: Settings,
) -> None:
    due, idle = business_in(), business_in()
    due_reminder(due)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    scheduler = scheduler_for(embedded, clock, "reminders")
    scheduler.step()

    ticks = [at(2027, 1, 1, 12, minute) for minute in (1, 2, 3)]
    for tick in ticks:
        assert emits_at(scheduler, clock, tick) == ["UTC"]

    assert emitted(SCHEDULE_REMINDERS.name) == [(tick, due) for tick in ticks]
    assert idle not in {b for _, b in emitted(SCHEDULE_REMINDERS.name)}


def test_the_idle_whatsapp_sweep_runs_every_minute_and_expires_if_left_waiting(
    embedded: Settings,
) -> None:
    business_id = business_in()
    idle_session(business_id)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 30))
    scheduler = scheduler_for(embedded, clock, "whatsapp_idle_summaries")
    scheduler.step()

    for minute in (1, 2):
        emits_at(scheduler, clock, at(2027, 1, 1, 12, minute))

    jobs = emitted_jobs(AUTO_SUMMARY_WHATSAPP_SESSION.name)
    assert len(jobs) == 2
    assert all(kwargs_of(job) == {"business_id": business_id} for job in jobs)  # the sweep
    assert all(json.loads(job.message)["options"]["max_age"] == 600_000 for job in jobs)


def test_the_stale_call_sweep_runs_every_minute_for_businesses_with_a_call_past_its_limit(
    embedded: Settings,
) -> None:
    stale, live = make_business(), make_business()
    started_call(stale.id, stale.phone_number, quiet_for=quiet_limit(1800) + timedelta(minutes=1))
    started_call(live.id, live.phone_number, quiet_for=timedelta(minutes=1))
    now = utcnow().replace(second=30, microsecond=0)
    clock = FakeClock(now)
    scheduler = scheduler_for(embedded, clock, "stale_calls")
    scheduler.step()

    ticks = [now.replace(second=0) + timedelta(minutes=n) for n in (1, 2)]
    for tick in ticks:
        assert emits_at(scheduler, clock, tick) == ["UTC"]

    assert emitted(END_STALE_CALLS.name) == [(tick, stale.id) for tick in ticks]


def test_the_outbound_reconciler_is_emitted_every_fifteen_seconds_where_runs_are_orphaned(
    embedded: Settings,
) -> None:
    orphaned, calm = business_in(), business_in()
    orphaned_run(orphaned)
    clock = FakeClock(at(2027, 1, 1, 12, 0, 1))
    scheduler = scheduler_for(embedded, clock, "outbound_reconcile")
    scheduler.step()

    ticks = [at(2027, 1, 1, 12, 0, second) for second in (15, 30, 45)]
    for tick in ticks:
        emits_at(scheduler, clock, tick)

    assert emitted(OUTBOUND_RECONCILE.name) == [(tick, orphaned) for tick in ticks]
    assert calm not in {b for _, b in emitted(OUTBOUND_RECONCILE.name)}


def test_the_outbound_reconciler_is_emitted_where_an_ended_run_has_a_call_in_flight(
    embedded: Settings,
) -> None:
    """A cancelled run whose dial still waits for Twilio's list has its calls settled by the
    reconcile job, and so has one that ended a month ago and was never settled (Twilio or
    the workers down meanwhile); one whose items are all final is left alone."""
    unsettled, old, settled = business_in(), business_in(), business_in()
    ended_run_in_flight(unsettled, at(2027, 1, 1, 11, 59))
    ended_run_in_flight(old, at(2026, 12, 1, 11, 59), status="failed")
    ended_run_in_flight(settled, at(2027, 1, 1, 11, 59), item="failed")
    clock = FakeClock(at(2027, 1, 1, 12, 0, 1))
    scheduler = scheduler_for(embedded, clock, "outbound_reconcile")
    scheduler.step()

    tick = at(2027, 1, 1, 12, 0, 15)
    emits_at(scheduler, clock, tick)

    assert sorted(emitted(OUTBOUND_RECONCILE.name)) == sorted([(tick, unsettled), (tick, old)])


def test_the_ledger_is_pruned_daily_for_every_business(embedded: Settings) -> None:
    first, second = business_in(), business_in("Asia/Tokyo")
    clock = FakeClock(at(2027, 1, 1, 12))
    scheduler = scheduler_for(embedded, clock, "job_retention")
    scheduler.step()

    for day in (2, 3):
        assert emits_at(scheduler, clock, at(2027, 1, day, 4, 30)) == ["UTC"]

    assert emitted(PRUNE_FINISHED_JOBS.name) == sorted(
        (at(2027, 1, day, 4, 30), b) for day in (2, 3) for b in (first, second)
    )


def test_warm_ups_are_emitted_once_each_time_a_scheduler_starts_leading(
    embedded: Settings,
) -> None:
    first, second = business_in(), business_in()
    clock = FakeClock(at(2027, 1, 1, 12))
    names = ("warmup_agents", "warmup_lazy_services")
    scheduler = scheduler_for(embedded, clock, *names)

    scheduler.step()
    clock.advance(timedelta(minutes=5))
    scheduler.step()  # still the same leadership: nothing more
    assert emitted(WARMUP_AGENTS.name) == [
        (at(2027, 1, 1, 12), first),
        (at(2027, 1, 1, 12), second),
    ]
    assert emitted(WARMUP_LAZY_SERVICES.name) == [(at(2027, 1, 1, 12), first)]

    restarted = scheduler_for(embedded, clock, *names)
    restarted.step()
    assert len(emitted(WARMUP_AGENTS.name)) == 4
    assert emitted(WARMUP_LAZY_SERVICES.name)[-1] == (clock.now(), first)


def test_a_zone_no_business_is_in_any_more_loses_its_tick_record_and_starts_afresh(
    embedded: Settings,
) -> None:
    business_id = business_in("Asia/Kolkata")
    old_recording(business_id)
    clock = FakeClock(at(2027, 1, 1, 12))
    scheduler = scheduler_for(embedded, clock, "recording_cleanup", "reminders")
    scheduler.step()
    assert set(stored_ticks()) == {("recording_cleanup", "Asia/Kolkata"), ("reminders", "UTC")}

    move_business(business_id, "UTC")
    clock.advance(ZONES_REFRESH_S)  # when the leader reads the zones again
    scheduler.step()
    assert set(stored_ticks()) == {("recording_cleanup", "UTC"), ("reminders", "UTC")}

    # Back in a zone it forgot: looked at at once, from its latest tick, as a new zone is.
    move_business(business_id, "Asia/Kolkata")
    clock.advance(ZONES_REFRESH_S)
    scheduler.step()
    kolkata = ("recording_cleanup", "Asia/Kolkata")
    assert stored_ticks()[kolkata] == datetime(2027, 1, 1, 3, tzinfo=ZoneInfo(kolkata[1]))
    tick = datetime(2027, 1, 2, 3, tzinfo=ZoneInfo(kolkata[1])).astimezone(UTC)
    clock.set(tick)
    scheduler.step()
    assert emitted(CLEANUP_OLD_RECORDINGS.name) == [(tick, business_id)]

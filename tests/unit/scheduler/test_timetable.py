"""When schedules tick: cron in a business's time zone across DST changes, and intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from switchboard.common.jobs.catalog import CLEANUP_OLD_RECORDINGS, SCHEDULE_REMINDERS
from switchboard.common.jobs.schedules import AT_START, Cron, Every, Schedule, Zone
from switchboard.scheduler.registry import DOMAIN_SCHEDULES, Registry
from switchboard.scheduler.timetable import describe, latest_at_or_before, next_after, zone_info

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
DAILY_3AM = Cron("0 3 * * *")


def _nothing(*_: object) -> list[int]:
    return []


def ticks_between(when: Cron | Every, zone: ZoneInfo, start: datetime, end: datetime) -> list:
    found, moment = [], start
    while (moment := next_after(when, zone, moment)) is not None and moment <= end:
        found.append(moment)
    return found


@pytest.mark.parametrize(
    ("zone", "change"),
    [(NEW_YORK, datetime(2027, 3, 14)), (BERLIN, datetime(2027, 3, 28))],
    ids=["new-york-spring", "berlin-spring"],
)
def test_three_in_the_morning_stays_three_on_the_wall_clock_across_spring_forward(
    zone: ZoneInfo, change: datetime
) -> None:
    start = (change - timedelta(days=2)).replace(tzinfo=zone)
    ticks = ticks_between(DAILY_3AM, zone, start, start + timedelta(days=4))

    assert [t.astimezone(zone).strftime("%d %H:%M") for t in ticks] == [
        f"{(change + timedelta(days=d)).day:02d} 03:00" for d in (-2, -1, 0, 1)
    ]
    offsets = [t.astimezone(zone).utcoffset() for t in ticks]
    assert offsets[0] == offsets[1] and offsets[2] == offsets[3]
    assert offsets[2] - offsets[1] == timedelta(hours=1)  # one hour earlier in UTC from the change
    assert all(b - a in (timedelta(hours=24), timedelta(hours=23)) for a, b in pairwise(ticks))


@pytest.mark.parametrize(
    ("zone", "change"),
    [(NEW_YORK, datetime(2027, 11, 7)), (BERLIN, datetime(2027, 10, 31))],
    ids=["new-york-autumn", "berlin-autumn"],
)
def test_three_in_the_morning_runs_once_a_day_across_fall_back(
    zone: ZoneInfo, change: datetime
) -> None:
    start = (change - timedelta(days=1)).replace(tzinfo=zone)
    ticks = ticks_between(DAILY_3AM, zone, start, start + timedelta(days=3))

    assert [t.astimezone(zone).strftime("%d %H:%M") for t in ticks] == [
        f"{(change + timedelta(days=d)).day:02d} 03:00" for d in (-1, 0, 1)
    ]
    assert ticks[1] - ticks[0] == timedelta(hours=25)  # the day the clock goes back


def test_a_time_the_clock_skips_runs_at_the_change_and_a_repeated_time_runs_once() -> None:
    half_past_two = Cron("30 2 * * *")  # 02:30 does not exist in New York on 2027-03-14
    spring = ticks_between(
        half_past_two,
        NEW_YORK,
        datetime(2027, 3, 13, 12, tzinfo=NEW_YORK),
        datetime(2027, 3, 15, 12, tzinfo=NEW_YORK),
    )
    assert [t.astimezone(NEW_YORK).strftime("%d %H:%M") for t in spring] == ["14 03:00", "15 02:30"]

    half_past_one = Cron("30 1 * * *")  # 01:30 happens twice in New York on 2027-11-07
    autumn = ticks_between(
        half_past_one,
        NEW_YORK,
        datetime(2027, 11, 6, 12, tzinfo=NEW_YORK),
        datetime(2027, 11, 8, 12, tzinfo=NEW_YORK),
    )
    assert len(autumn) == 2
    assert autumn[0].astimezone(UTC) == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # the first 01:30


def test_the_latest_tick_is_found_from_inside_a_repeated_hour() -> None:
    # 01:10 in the second pass of New York's repeated hour (EST) is 06:10 UTC; the day's 01:30
    # (first pass, EDT) was at 05:30 UTC.
    now = datetime(2027, 11, 7, 6, 10, tzinfo=UTC)
    assert latest_at_or_before(Cron("30 1 * * *"), NEW_YORK, now) == datetime(
        2027, 11, 7, 5, 30, tzinfo=UTC
    )


def test_intervals_tick_on_multiples_of_their_length_whoever_computes_them() -> None:
    now = datetime(2027, 1, 1, 12, 0, 7, 250_000, tzinfo=UTC)
    assert latest_at_or_before(Every(15), UTC, now) == datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert next_after(Every(15), UTC, now) == datetime(2027, 1, 1, 12, 0, 15, tzinfo=UTC)
    assert next_after(Every(60), UTC, datetime(2027, 1, 1, 12, 1, tzinfo=UTC)) == datetime(
        2027, 1, 1, 12, 2, tzinfo=UTC
    )
    assert latest_at_or_before(Every(60), UTC, datetime(2027, 1, 1, 12, 1, tzinfo=UTC)) == (
        datetime(2027, 1, 1, 12, 1, tzinfo=UTC)
    )


def test_a_zone_the_system_does_not_know_is_read_as_utc() -> None:
    assert zone_info("Mars/Olympus_Mons") is UTC
    assert zone_info("UTC") is UTC


def test_the_seed_s_schedules_are_declared_with_cron_interval_zone_and_policy() -> None:
    declared = {s.name: s for s in DOMAIN_SCHEDULES}
    assert {name: describe(s) for name, s in declared.items()} == {
        "warmup_agents": "at start",
        "warmup_lazy_services": "at start",
        "recording_cleanup": "cron 0 3 * * * (business time zone)",
        "stale_calls": "every 60 s",
        "reminders": "every 60 s",
        "whatsapp_idle_summaries": "every 60 s",
        "outbound_reconcile": "every 15 s",
        "job_retention": "cron 30 4 * * * (UTC)",
    }
    assert {name: s.job.name for name, s in declared.items()} == {
        "warmup_agents": "warmup_agents_job",
        "warmup_lazy_services": "warmup_lazy_services_job",
        "recording_cleanup": "cleanup_old_recordings_job",
        "stale_calls": "end_stale_calls_job",
        "reminders": "schedule_reminders_job",
        "whatsapp_idle_summaries": "auto_summary_whatsapp_session_job",
        "outbound_reconcile": "outbound_reconcile_job",
        "job_retention": "prune_finished_jobs_job",
    }
    assert declared["recording_cleanup"].zone is Zone.BUSINESS
    assert {s.missed.value for s in DOMAIN_SCHEDULES} == {"catch_up_once"}


def test_a_bad_declaration_is_refused_with_the_schedule_s_name() -> None:
    with pytest.raises(ValueError, match="cleanup.*Bad minute"):
        Registry((Schedule("cleanup", CLEANUP_OLD_RECORDINGS, Cron("61 3 * * *"), _nothing),), ())
    with pytest.raises(ValueError, match="declared twice: reminders"):
        twice = Schedule("reminders", SCHEDULE_REMINDERS, Every(60), _nothing)
        Registry((twice, twice), ())
    with pytest.raises(ValueError, match="business time zone needs a cron"):
        Schedule("r", SCHEDULE_REMINDERS, Every(60), _nothing, zone=Zone.BUSINESS)
    with pytest.raises(ValueError, match="whole number"):
        Every(0)
    assert describe(Schedule("w", SCHEDULE_REMINDERS, AT_START, _nothing)) == "at start"

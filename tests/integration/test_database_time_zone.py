"""A PostgreSQL whose ``TimeZone`` is not UTC (``initdb`` takes the host's local zone) hands
back every time with that zone's offset; what Switchboard reads is UTC all the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text

from switchboard.common.db.base import as_utc
from switchboard.common.db.engine import get_engine, reset_engine
from switchboard.common.settings import Settings
from switchboard.scheduler.clock import FakeClock
from switchboard.scheduler.loop import Scheduler
from switchboard.scheduler.registry import Registry
from tests.integration.test_scheduler_leadership import a_schedule_for
from tests.support.factories import make_business


def test_times_read_from_a_database_in_kathmandu_time_are_utc(
    new_database: Settings, admin_database_url: str
) -> None:
    name = new_database.database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kathmandu'")
    reset_engine()
    with get_engine().connect() as conn:
        assert conn.execute(text("SHOW TimeZone")).scalar() == "Asia/Kathmandu"
        stored = conn.execute(text("SELECT TIMESTAMPTZ '2027-01-01 12:00:00+00'")).scalar()
    assert stored.utcoffset() == timedelta(hours=5, minutes=45)  # what psycopg hands back
    assert as_utc(stored) == stored and as_utc(stored).tzinfo is UTC

    schedule = a_schedule_for(make_business().id)
    start = datetime(2027, 1, 1, 12, 0, 30, tzinfo=UTC)
    clock = FakeClock(start)
    scheduler = Scheduler(new_database, Registry((schedule,), ()), clock=clock, tasks=[])
    try:
        scheduler.step()
        clock.set(datetime(2027, 1, 1, 12, 1, tzinfo=UTC))
        scheduler.step()
    finally:
        scheduler.leadership.release()
    [status] = scheduler.state.health()["schedules"]  # type: ignore[index]
    assert status["last_run"] == "2027-01-01T12:01:00.000Z"

"""The scheduler's pass: ENABLE_SCHEDULERS, the leader's own tasks, and what it collects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import END_STALE_CALLS, OUTBOUND_RUN
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import Job, OutboundRun
from switchboard.common.settings import Settings
from switchboard.domain.businesses import scheduled as businesses_scheduled
from switchboard.domain.calls import scheduled as calls_scheduled
from switchboard.domain.calls.stale import quiet_limit
from switchboard.domain.notifications import scheduled as notifications_scheduled
from switchboard.domain.operations import scheduled as operations_scheduled
from switchboard.domain.outbound import scheduled as outbound_scheduled
from switchboard.domain.whatsapp import scheduled as whatsapp_scheduled
from switchboard.scheduler.clock import FakeClock
from switchboard.scheduler.loop import Scheduler, platform_tasks
from switchboard.scheduler.registry import collect
from switchboard.scheduler.schedule import Periodic
from tests.support.calls import call_of, started_call
from tests.support.environment import configured
from tests.support.factories import make_business
from tests.unit.scheduler.rows import (
    at,
    business_in,
    due_reminder,
    ended_run_in_flight,
    idle_session,
    old_recording,
    orphaned_run,
    stored_ticks,
)


@pytest.fixture
def switched_off(tmp_path: Path) -> Iterator[Settings]:
    """Embedded, migrated, with ENABLE_SCHEDULERS=false."""
    with configured(
        database_url="", amqp_url="", var_dir=str(tmp_path / "var"), enable_schedulers="false"
    ) as settings:
        worker_startup_migrations()
        yield settings


def recorder(calls: list[str], name: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def run() -> None:
        calls.append(name)
        if fail:
            raise RuntimeError("boom")

    return run


def job_count() -> int:
    with system_session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_enable_schedulers_false_emits_nothing_but_relays_and_runs_the_safety_checks(
    switched_off: Settings,
) -> None:
    business_id = business_in()
    due_reminder(business_id)
    old_recording(business_id)
    idle_session(business_id)
    orphaned_run(business_id)
    calls: list[str] = []
    tasks = [
        Periodic("relay", 30, recorder(calls, "relay")),
        Periodic("safety", 30, recorder(calls, "safety"), safety=True),
    ]
    clock = FakeClock(at(2027, 1, 1, 2, 58))
    scheduler = Scheduler(switched_off, collect(), clock=clock, tasks=tasks)

    for _ in range(5):  # across 03:00 and 04:30, minutes and quarter-minutes
        scheduler.step()
        clock.advance(timedelta(minutes=25))

    assert job_count() == 0
    assert stored_ticks() == {}
    assert calls == ["relay", "safety"] * 5
    health = scheduler.state.health()
    assert health["role"] == "leader" and health["emitting"] is False
    assert "ENABLE_SCHEDULERS=false" in str(health["emission"])


def test_the_safety_checks_close_a_run_whose_driver_is_dead_and_resume_none(
    switched_off: Settings,
) -> None:
    business_id = business_in()
    dead, driverless = orphaned_run(business_id), orphaned_run(business_id)
    get_broker().declare_queue(OUTBOUND_RUN.queue)
    job_id = enqueue(OUTBOUND_RUN, business_id=business_id, run_id=dead).job_id
    with tenant_session(business_id) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="dead"))
    scheduler = Scheduler(switched_off, collect(), clock=FakeClock(at(2027, 1, 1)))
    assert [t.name for t in scheduler.tasks if t.safety] == [
        "calls_left_open",
        "outbound_abandoned_runs",
    ]

    scheduler.step()

    with tenant_session(business_id) as session:
        runs = dict(session.execute(select(OutboundRun.id, OutboundRun.status)).all())
    assert runs == {dead: "failed", driverless: "running"}
    assert job_count() == 1  # the dead driver's own: nothing emitted


def test_the_safety_checks_have_an_ended_run_s_calls_in_flight_settled_by_a_driver(
    switched_off: Settings,
) -> None:
    """Settling places no call, so it is not left waiting while nothing is emitted: the
    safety check enqueues the run's driver job (once per lease period), which settles it."""
    business_id = business_in()
    cancelled = ended_run_in_flight(business_id, utcnow())
    get_broker().declare_queue(OUTBOUND_RUN.queue)
    scheduler = Scheduler(switched_off, collect(), clock=FakeClock(at(2027, 1, 1)))

    scheduler.step()
    scheduler.step()

    with system_session() as session:
        drivers = session.execute(select(Job.run_id).where(Job.actor_name == OUTBOUND_RUN.name))
        assert list(drivers.scalars()) == [cancelled]


def test_the_safety_checks_end_a_call_a_dead_gateway_left_open_and_emit_no_sweep(
    switched_off: Settings,
) -> None:
    business = make_business()
    get_broker().declare_queue(END_STALE_CALLS.queue)
    stale = started_call(business.id, business.phone_number, quiet_for=2 * quiet_limit(1800))
    live = started_call(business.id, business.phone_number, quiet_for=timedelta(minutes=1))

    Scheduler(switched_off, collect(), clock=FakeClock(utcnow())).step()

    assert (call_of(business.id, stale).status, call_of(business.id, live).status) == (
        "failed",
        "in-progress",
    )
    with system_session() as session:
        sweeps = session.scalar(
            select(func.count()).select_from(Job).where(Job.actor_name == END_STALE_CALLS.name)
        )
    assert sweeps == 0


def test_safety_checks_are_left_to_the_emitted_jobs_while_schedules_run(
    embedded: Settings,
) -> None:
    calls: list[str] = []
    tasks = [Periodic("safety", 1, recorder(calls, "safety"), safety=True)]
    Scheduler(embedded, collect().only(()), clock=FakeClock(at(2027, 1, 1)), tasks=tasks).step()
    assert calls == []


def test_the_leader_s_own_tasks_run_once_per_interval_and_one_failing_stops_no_other(
    embedded: Settings,
) -> None:
    calls: list[str] = []
    tasks = [
        Periodic("bad", 60, recorder(calls, "bad", fail=True)),
        Periodic("good", 60, recorder(calls, "good")),
    ]
    clock = FakeClock(at(2027, 1, 1))
    scheduler = Scheduler(embedded, collect().only(()), clock=clock, tasks=tasks)
    scheduler.step()
    clock.advance(30)
    scheduler.step()
    clock.advance(31)
    scheduler.step()
    assert calls == ["bad", "good", "bad", "good"]


def test_the_leader_relays_the_outbox_whatever_the_switch(embedded: Settings) -> None:
    names = [task.name for task in platform_tasks(embedded, collect())]
    assert names == [
        "outbox_relay",
        "new_table_statistics",
        "calls_left_open",
        "outbound_abandoned_runs",
    ]


def test_the_scheduler_runs_what_each_domain_declares(embedded: Settings) -> None:
    domains = (
        businesses_scheduled,
        calls_scheduled,
        notifications_scheduled,
        whatsapp_scheduled,
        outbound_scheduled,
        operations_scheduled,
    )
    declared = [schedule for domain in domains for schedule in domain.SCHEDULES]
    assert set(collect().schedules) == set(declared)
    assert len(collect(["tests.support.schedules"]).schedules) == len(declared) + 1

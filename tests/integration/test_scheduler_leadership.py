"""One scheduler leads at a time (PostgreSQL advisory lock), and each tick is emitted exactly once
however many schedulers run and whichever of them dies."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db import system_session
from switchboard.common.jobs.schedules import Every, Schedule, Tick
from switchboard.common.models import Job, ScheduleTick
from switchboard.common.settings import Settings
from switchboard.scheduler.clock import FakeClock
from switchboard.scheduler.emission import Outcome, emit_due
from switchboard.scheduler.leader import LEADER_SILENCE_S, Leadership
from switchboard.scheduler.loop import Scheduler
from switchboard.scheduler.registry import Registry
from tests.support import schedules as process_schedules
from tests.support import stalling_schedules
from tests.support.actors import NOOP
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

MINUTE = timedelta(minutes=1)


def test_only_one_of_two_schedulers_leads_until_the_leader_lets_go(pg) -> None:
    first, second = Leadership(), Leadership()
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        first.release()
        assert second.try_acquire() is True
    finally:
        first.release()
        second.release()


def a_schedule_for(business_id: int) -> Schedule:
    """A minute schedule of this test's own (the session's database is shared)."""

    def only_ours(session: Session, tick: Tick) -> Iterable[int]:
        return [business_id]

    return Schedule(f"test_{uuid.uuid4().hex[:12]}", NOOP, Every(60), only_ours)


def ticks_of(schedule: str) -> list[datetime]:
    with system_session() as session:
        keys = session.execute(
            select(Job.dedup_key).where(Job.dedup_key.like(f"schedule:{schedule}:%"))
        ).scalars()
        return sorted(datetime.fromisoformat(k.split(":", 2)[2].rsplit(":", 1)[0]) for k in keys)


def test_two_schedulers_emit_each_tick_once_and_the_follower_goes_on_without_a_gap(
    pg: Settings,
) -> None:
    schedule = a_schedule_for(make_business().id)
    start = datetime(2027, 1, 1, 12, 0, 30, tzinfo=UTC)
    clock = FakeClock(start)
    first, second = (
        Scheduler(pg, Registry((schedule,), ()), clock=clock, tasks=[]) for _ in range(2)
    )
    try:
        first.step()
        second.step()
        assert (first.state.leader, second.state.leader) == (True, False)
        for minute in (1, 2, 3):
            clock.set(start.replace(second=0) + minute * MINUTE)
            first.step()
            second.step()
        # The leader is gone at 12:04, before it emitted that minute's tick.
        clock.set(start.replace(second=0) + 4 * MINUTE)
        first.leadership.release()
        clock.advance(2)
        second.step()
        clock.set(start.replace(second=0) + 5 * MINUTE)
        second.step()
    finally:
        first.leadership.release()
        second.leadership.release()

    assert second.state.leader
    base = start.replace(second=0)
    assert ticks_of(schedule.name) == [base + minute * MINUTE for minute in (1, 2, 3, 4, 5)]


def test_schedulers_racing_for_one_tick_emit_it_once(pg: Settings) -> None:
    schedule = a_schedule_for(make_business().id)
    now = datetime(2027, 1, 1, 12, 0, 30, tzinfo=UTC)
    emit_due(schedule, "UTC", now, now)  # the first look notes where the schedule stands
    tick = now + MINUTE
    racers = 4
    barrier = threading.Barrier(racers)
    outcomes: list[Outcome] = []

    def race() -> None:
        barrier.wait()
        outcomes.append(emit_due(schedule, "UTC", tick, now))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(str(o.decision) for o in outcomes) == ["None", "None", "None", "emit"]
    assert ticks_of(schedule.name) == [tick.replace(second=0)]


def _health(url: str) -> dict | None:  # type: ignore[type-arg]
    try:
        return dict(httpx.get(f"{url}/health", timeout=2).json()["scheduler"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _roles(urls: list[str]) -> list[str] | None:
    found = [_health(url) for url in urls]
    return [str(h["role"]) for h in found if h] if all(found) else None


def test_killing_the_leader_mid_interval_hands_over_without_a_duplicate_or_a_gap(
    new_database: Settings, tmp_path: Path
) -> None:
    make_business()
    name, interval = process_schedules.SCHEDULES[0].name, process_schedules.TICK_S
    env = service_env(database_url=new_database.database_url, amqp_url="")
    urls, processes = [], []
    for i in range(2):
        port = free_port()
        args = ["scheduler", "tests.support.schedules", "--host", "127.0.0.1", "--port", str(port)]
        processes.append(ServiceProcess(args, env, tmp_path / f"scheduler-{i}.log"))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        roles = wait_for(lambda: _roles(urls), timeout=60, what="both schedulers' /health")
        assert sorted(roles) == ["follower", "leader"]
        leader = roles.index("leader")
        wait_for(lambda: len(ticks_of(name)) >= 2, timeout=30, what="two ticks")
        while time.time() % interval < interval / 2:  # kill half-way between two ticks
            time.sleep(0.02)
        processes[leader].kill()
        killed_at = time.monotonic()
        follower = urls[1 - leader]
        wait_for(lambda: (_health(follower) or {}).get("role") == "leader", timeout=30)
        handover_s = time.monotonic() - killed_at
        emitted_before = len(ticks_of(name))
        wait_for(lambda: len(ticks_of(name)) >= emitted_before + 2, timeout=30, what="more ticks")
        processes[1 - leader].stop()
    finally:
        for process in processes:
            process.stop()
            print(f"--- {process.log_path.name} ---\n{process.output()[-3000:]}")

    ticks = ticks_of(name)
    step = timedelta(seconds=interval)
    assert all(b - a == step for a, b in pairwise(ticks)), ticks  # no gap, no repeat
    with system_session() as session:
        stored = session.execute(
            select(ScheduleTick.ticks_emitted).where(ScheduleTick.schedule == name)
        ).scalar_one()
    assert stored == len(ticks)
    assert handover_s < 5, f"the follower took {handover_s:.1f} s to lead"


def test_killing_the_leader_mid_tick_hands_the_tick_to_the_follower_once(
    new_database: Settings, tmp_path: Path
) -> None:
    """SIGKILL while the leader is inside a tick's transaction, holding the schedule's row
    lock: nothing of it is kept, and the follower emits that very tick, once, then goes on."""
    make_business()
    [schedule] = stalling_schedules.SCHEDULES
    marker = tmp_path / "stalled"
    env = service_env(
        database_url=new_database.database_url,
        amqp_url="",
        **{stalling_schedules.MARKER_ENV: str(marker)},
    )
    urls, processes = [], []
    for i in range(2):
        port = free_port()
        args = ["scheduler", stalling_schedules.__name__, "--host", "127.0.0.1"]
        processes.append(ServiceProcess([*args, "--port", str(port)], env, tmp_path / f"s{i}.log"))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        roles = wait_for(lambda: _roles(urls), timeout=60, what="both schedulers' /health")
        leader = roles.index("leader")
        wait_for(marker.exists, timeout=30, what="the leader stalled inside a tick")
        stalled_tick = wait_for(lambda: marker.read_text() or None, timeout=5)
        processes[leader].kill()
        killed_at = time.monotonic()
        follower = urls[1 - leader]
        wait_for(lambda: (_health(follower) or {}).get("role") == "leader", timeout=30)
        handover_s = time.monotonic() - killed_at
        wait_for(lambda: len(ticks_of(schedule.name)) >= 3, timeout=30, what="three ticks")
        processes[1 - leader].stop()
    finally:
        for process in processes:
            process.stop()
            print(f"--- {process.log_path.name} ---\n{process.output()[-3000:]}")

    ticks = ticks_of(schedule.name)
    assert ticks[0] == datetime.fromisoformat(stalled_tick), ticks  # not lost, not skipped
    step = timedelta(seconds=process_schedules.TICK_S)
    assert all(b - a == step for a, b in pairwise(ticks)), ticks  # no repeat, no gap
    with system_session() as session:
        stored = session.execute(
            select(ScheduleTick.ticks_emitted).where(ScheduleTick.schedule == schedule.name)
        ).scalar_one()
    assert stored == len(ticks)
    assert handover_s < 5, f"the follower took {handover_s:.1f} s to lead"


def test_a_frozen_leader_is_replaced_and_emits_nothing_twice_when_it_thaws(
    new_database: Settings, tmp_path: Path
) -> None:
    """SIGSTOP, as a paused VM or a process stuck in a C call: the kernel still answers TCP
    keepalives, so only the database's own clock on the leader's silence frees the lock
    (``LEADER_SILENCE_S``). The follower leads; the thawed leader finds its session ended,
    follows, and no tick is emitted twice."""
    make_business()
    name = process_schedules.SCHEDULES[0].name
    env = service_env(database_url=new_database.database_url, amqp_url="")
    urls, processes = [], []
    for i in range(2):
        port = free_port()
        args = ["scheduler", "tests.support.schedules", "--host", "127.0.0.1"]
        processes.append(ServiceProcess([*args, "--port", str(port)], env, tmp_path / f"s{i}.log"))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        roles = wait_for(lambda: _roles(urls), timeout=60, what="both schedulers' /health")
        leader, follower = roles.index("leader"), urls[1 - roles.index("leader")]
        wait_for(lambda: len(ticks_of(name)) >= 2, timeout=30, what="two ticks")
        frozen = processes[leader].proc.pid
        os.killpg(frozen, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            wait_for(
                lambda: (_health(follower) or {}).get("role") == "leader",
                timeout=LEADER_SILENCE_S + 10,
                what="the follower to lead",
            )
            handover_s = time.monotonic() - frozen_at
            emitted = len(ticks_of(name))
            wait_for(lambda: len(ticks_of(name)) >= emitted + 2, timeout=30, what="more ticks")
        finally:
            os.killpg(frozen, signal.SIGCONT)
        wait_for(lambda: _roles(urls) is not None, timeout=30, what="the thawed /health")
        assert sorted(_roles(urls) or []) == ["follower", "leader"]
        emitted = len(ticks_of(name))
        wait_for(lambda: len(ticks_of(name)) >= emitted + 2, timeout=30, what="ticks after")
    finally:
        for process in processes:
            process.stop()
            print(f"--- {process.log_path.name} ---\n{process.output()[-3000:]}")

    ticks = ticks_of(name)
    assert len(set(ticks)) == len(ticks), ticks  # none twice
    with system_session() as session:
        stored = session.execute(
            select(ScheduleTick.ticks_emitted).where(ScheduleTick.schedule == name)
        ).scalar_one()
    assert stored == len(ticks)
    assert handover_s < LEADER_SILENCE_S + 3, f"the follower took {handover_s:.1f} s to lead"


def test_a_leader_stuck_inside_a_tick_is_replaced_and_its_row_lock_freed(
    new_database: Settings, tmp_path: Path
) -> None:
    """A leader stuck mid-tick (alive, its socket open, its transaction holding the
    schedule's row lock) says nothing: PostgreSQL ends its leader session and its idle
    transaction after ``LEADER_SILENCE_S``, and the follower leads and emits (the ticks the
    stuck one missed catch up once) instead of waiting on the row for ever."""
    make_business()
    [schedule] = stalling_schedules.SCHEDULES
    marker = tmp_path / "stalled"
    env = service_env(
        database_url=new_database.database_url,
        amqp_url="",
        **{stalling_schedules.MARKER_ENV: str(marker)},
    )
    urls, processes = [], []
    for i in range(2):
        port = free_port()
        args = ["scheduler", stalling_schedules.__name__, "--host", "127.0.0.1"]
        processes.append(ServiceProcess([*args, "--port", str(port)], env, tmp_path / f"s{i}.log"))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        roles = wait_for(lambda: _roles(urls), timeout=60, what="both schedulers' /health")
        follower = urls[1 - roles.index("leader")]
        wait_for(marker.exists, timeout=30, what="the leader stuck inside a tick")
        stuck_at = time.monotonic()
        wait_for(
            lambda: (_health(follower) or {}).get("role") == "leader",
            timeout=LEADER_SILENCE_S + 10,
            what="the follower to lead",
        )
        handover_s = time.monotonic() - stuck_at
        wait_for(lambda: len(ticks_of(schedule.name)) >= 2, timeout=30, what="two ticks")
    finally:
        for process in processes:
            process.stop()
            print(f"--- {process.log_path.name} ---\n{process.output()[-3000:]}")

    ticks = ticks_of(schedule.name)
    assert len(set(ticks)) == len(ticks), ticks
    assert ticks[0] > datetime.fromisoformat(marker.read_text())  # caught up, once
    assert handover_s < LEADER_SILENCE_S + 3, f"the follower took {handover_s:.1f} s to lead"


def test_a_scheduler_with_enable_schedulers_false_emits_nothing_and_says_so(
    new_database: Settings, tmp_path: Path
) -> None:
    make_business()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(
        database_url=new_database.database_url, amqp_url="", enable_schedulers="false"
    )
    args = ["scheduler", "tests.support.schedules", "--host", "127.0.0.1", "--port", str(port)]
    process = ServiceProcess(args, env, tmp_path / "scheduler.log")
    try:
        # Status is read after the leader's first pass, which emits the warm-ups when on.
        health = wait_for(
            lambda: (h := _health(url)) and h["role"] == "leader" and h["schedules"] and h,
            timeout=60,
            what="the leader's first pass",
        )
    finally:
        process.stop()

    assert health["emitting"] is False
    assert "ENABLE_SCHEDULERS=false" in health["emission"]
    assert all(s["ticks_emitted"] == 0 for s in health["schedules"])
    with system_session() as session:
        assert session.execute(select(Job.id)).first() is None
        assert session.execute(select(ScheduleTick.schedule)).first() is None
    assert "scheduler.emission_off" in process.output()

"""The scheduler's tick: leadership, ENABLE_SCHEDULERS, and one failing task not stopping others."""

from __future__ import annotations

from switchboard.domain.calls import scheduled as calls_scheduled
from switchboard.domain.notifications import scheduled as notifications_scheduled
from switchboard.domain.outbound import scheduled as outbound_scheduled
from switchboard.domain.whatsapp import scheduled as whatsapp_scheduled
from switchboard.scheduler.leader import Leadership
from switchboard.scheduler.loop import default_schedule, tick
from switchboard.scheduler.schedule import Periodic
from tests.support.environment import configured


def recorder(calls: list[str], name: str, fail: bool = False):
    def run() -> None:
        calls.append(name)
        if fail:
            raise RuntimeError("boom")

    return run


def test_enable_schedulers_false_emits_nothing_but_still_relays_the_outbox(embedded) -> None:
    calls: list[str] = []
    tasks = [
        Periodic("relay", 1, recorder(calls, "relay"), emits_jobs=False),
        Periodic("cleanup", 1, recorder(calls, "cleanup")),
    ]
    with configured(
        database_url="", amqp_url="", var_dir=str(embedded.var_dir), enable_schedulers="false"
    ) as settings:
        assert tick(tasks, Leadership(), settings, now=10.0) == ["relay"]
    assert calls == ["relay"]


def test_due_tasks_run_once_per_interval(embedded) -> None:
    calls: list[str] = []
    tasks = [Periodic("cleanup", 60, recorder(calls, "cleanup"))]
    leadership = Leadership()
    assert tick(tasks, leadership, embedded, now=100.0) == ["cleanup"]
    assert tick(tasks, leadership, embedded, now=130.0) == []
    assert tick(tasks, leadership, embedded, now=161.0) == ["cleanup"]


def test_a_failing_task_does_not_stop_the_others(embedded) -> None:
    calls: list[str] = []
    tasks = [
        Periodic("bad", 1, recorder(calls, "bad", fail=True)),
        Periodic("good", 1, recorder(calls, "good")),
    ]
    assert tick(tasks, Leadership(), embedded, now=5.0) == ["good"]
    assert calls == ["bad", "good"]


def test_the_default_schedule_relays_the_outbox_regardless_of_the_switch(embedded) -> None:
    schedule = {task.name: task for task in default_schedule(embedded)}
    bookkeeping = {"outbox_relay", "new_table_statistics"}
    assert all(schedule[name].emits_jobs is False for name in bookkeeping)
    assert all(task.emits_jobs for name, task in schedule.items() if name not in bookkeeping)


def test_the_default_schedule_runs_what_each_domain_declares(embedded) -> None:
    names = [task.name for task in default_schedule(embedded)]
    assert len(names) == len(set(names))
    assert {
        "recording_cleanup",
        "reminders",
        "whatsapp_session_summaries",
        "outbound_reconcile",
    } <= set(names)
    domains = (calls_scheduled, notifications_scheduled, whatsapp_scheduled, outbound_scheduled)
    declared = {name: run for domain in domains for name, _, run in domain.PERIODIC}
    assert {task.name: task.run for task in default_schedule(embedded)}.items() >= declared.items()

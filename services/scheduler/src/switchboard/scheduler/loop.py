"""The scheduler loop: the outbox relay always, periodic jobs only when enabled."""

from __future__ import annotations

import asyncio
import time

from switchboard.common.db.statistics import analyze_new_tables
from switchboard.common.jobs.outbox import relay_outbox
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings
from switchboard.domain.calls.recordings import schedule_recording_cleanups
from switchboard.domain.notifications.push import schedule_reminder_scans
from switchboard.domain.outbound.reconcile import reconcile_runs
from switchboard.domain.whatsapp.sessions import schedule_session_summaries
from switchboard.scheduler.leader import Leadership
from switchboard.scheduler.schedule import Periodic

log = get_logger(__name__)


def default_schedule(settings: Settings) -> list[Periodic]:
    """Everything the scheduler runs; job-emitting entries are added by the domains."""
    return [
        Periodic(
            "outbox_relay",
            settings.outbox_relay_interval_s,
            lambda: relay_outbox(min_age_s=settings.outbox_relay_min_age_s),
            emits_jobs=False,
        ),
        # A new database's tables get statistics within seconds, not autovacuum's minute.
        Periodic("new_table_statistics", 5, analyze_new_tables, emits_jobs=False),
        # Each scan fans out per business with enqueue_unique(period=…): a restarted or
        # second scheduler emits nothing twice in a period.
        Periodic("recording_cleanup", 3600, schedule_recording_cleanups),
        Periodic("reminders", 30, schedule_reminder_scans),
        Periodic("whatsapp_session_summaries", 60, schedule_session_summaries),
        # Outbound runs whose driver died: resumed, or closed if their driver is dead.
        Periodic("outbound_reconcile", 5, reconcile_runs),
    ]


def tick(
    tasks: list[Periodic], leadership: Leadership, settings: Settings, now: float
) -> list[str]:
    """Run whatever is due; return the names that ran."""
    if not leadership.try_acquire():
        return []
    ran = []
    for task in tasks:
        if not task.due(now) or (task.emits_jobs and not settings.enable_schedulers):
            continue
        try:
            task.run()
            ran.append(task.name)
        except (
            Exception
        ) as exc:  # one failing task must not stop the others; logged, retried next time
            log.error(
                "scheduler.task_failed",
                task=task.name,
                error=redact(f"{type(exc).__name__}: {exc}"),
            )
        task.done(now)
    return ran


async def run_scheduler(
    settings: Settings, stop: asyncio.Event, tasks: list[Periodic] | None = None
) -> None:
    """Tick every 200 ms until ``stop`` is set."""
    tasks = tasks if tasks is not None else default_schedule(settings)
    leadership = Leadership()
    log.info("scheduler.started", enabled=settings.enable_schedulers, tasks=[t.name for t in tasks])
    try:
        while not stop.is_set():
            tick(tasks, leadership, settings, time.monotonic())
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.2)
            except TimeoutError:
                pass
    finally:
        leadership.release()

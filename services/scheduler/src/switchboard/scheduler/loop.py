"""The scheduler loop: the outbox relay always, periodic jobs only when enabled."""

from __future__ import annotations

import asyncio
import time

from switchboard.common.db.statistics import analyze_new_tables
from switchboard.common.jobs.outbox import relay_outbox
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings
from switchboard.domain.calls import scheduled as calls_scheduled
from switchboard.domain.notifications import scheduled as notifications_scheduled
from switchboard.domain.outbound import scheduled as outbound_scheduled
from switchboard.domain.whatsapp import scheduled as whatsapp_scheduled
from switchboard.scheduler.leader import Leadership
from switchboard.scheduler.schedule import Periodic

log = get_logger(__name__)

# The domains' periodic jobs, each declared in its domain's ``scheduled`` module. Each fans
# out per business with enqueue_unique(period=…): a restarted or second scheduler emits
# nothing twice in a period.
DOMAIN_PERIODIC = (
    *calls_scheduled.PERIODIC,
    *notifications_scheduled.PERIODIC,
    *whatsapp_scheduled.PERIODIC,
    *outbound_scheduled.PERIODIC,
)


def default_schedule(settings: Settings) -> list[Periodic]:
    """Everything the scheduler runs: its platform tasks, then the domains' periodic jobs."""
    return [
        Periodic(
            "outbox_relay",
            settings.outbox_relay_interval_s,
            lambda: relay_outbox(min_age_s=settings.outbox_relay_min_age_s),
            emits_jobs=False,
        ),
        # A new database's tables get statistics within seconds, not autovacuum's minute.
        Periodic("new_table_statistics", 5, analyze_new_tables, emits_jobs=False),
    ] + [Periodic(name, interval_s, run) for name, interval_s, run in DOMAIN_PERIODIC]


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

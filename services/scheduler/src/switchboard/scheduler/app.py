"""The scheduler process: its loop plus ``/health``, ``/ready`` and ``/metrics`` on port 8002.

``/health`` and ``/metrics`` say whether this process leads, whether it emits
(ENABLE_SCHEDULERS), and per schedule its last and next run and what it emitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from switchboard.common.metrics import LedgerCollector
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings, get_settings
from switchboard.common.web import health_router
from switchboard.scheduler.clock import Clock
from switchboard.scheduler.loop import Scheduler
from switchboard.scheduler.registry import collect
from switchboard.scheduler.status import SchedulerCollector


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    modules: Sequence[str] = (),
    clock: Clock | None = None,
) -> FastAPI:
    """The scheduler app; its lifespan applies migrations and runs the loop. ``modules`` add
    their ``SCHEDULES`` to the domains' (``switchboard scheduler MODULE…``)."""
    settings = settings or get_settings()
    scheduler = Scheduler(settings, collect(modules), clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            worker_startup_migrations()
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        yield
        stop.set()
        await task

    app = FastAPI(title="Switchboard scheduler", lifespan=lifespan)
    app.state.scheduler = scheduler
    app.include_router(
        health_router(
            "scheduler",
            settings,
            extra_collectors=[LedgerCollector(), SchedulerCollector(lambda: scheduler.state)],
            details=lambda: {"scheduler": scheduler.state.health()},
        )
    )
    return app

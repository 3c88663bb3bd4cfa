"""The scheduler process: its loop plus ``/health``, ``/ready`` and ``/metrics`` on port 8002."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from switchboard.common.metrics import LedgerCollector
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings, get_settings
from switchboard.common.web import health_router
from switchboard.scheduler.loop import run_scheduler


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """The scheduler app; its lifespan applies migrations and runs the loop."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            worker_startup_migrations()
        stop = asyncio.Event()
        task = asyncio.create_task(run_scheduler(settings, stop))
        yield
        stop.set()
        await task

    app = FastAPI(title="Switchboard scheduler", lifespan=lifespan)
    app.include_router(health_router("scheduler", settings, extra_collectors=[LedgerCollector()]))
    return app

"""Serving the services: one role per process, or all of them in one (``switchboard run``)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from rich.console import Console

from switchboard.common.db import system_session
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import Business
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.businesses.accounts import issue_api_key

console = Console(stderr=True)
DEMO_PHONE = "+15550000000"


def build_app(role: str, settings: Settings) -> Any:
    """The ASGI app for an HTTP role."""
    if role == "api":
        from switchboard.api.app import create_app as create_api

        return create_api(settings)
    if role == "gateway":
        from switchboard.voice_gateway.app import create_app as create_gateway

        return create_gateway(settings)
    if role == "scheduler":
        from switchboard.scheduler.app import create_app as create_scheduler

        return create_scheduler(settings)
    raise ValueError(f"unknown HTTP role {role!r}")


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )


async def serve_one(role: str, host: str, port: int) -> None:
    """Serve one HTTP role until interrupted."""
    await _server(build_app(role, get_settings()), host, port).serve()


def _demo_api_key() -> str:
    """A fresh API key for the demo business (created on first run), for local development."""
    with system_session() as session:
        business = session.query(Business).filter_by(phone_number=DEMO_PHONE).one_or_none()
        if business is None:
            from switchboard.domain.businesses.accounts import create_business

            business, key = create_business("Demo Business", DEMO_PHONE)
            return key.key
        business_id = business.id
    return issue_api_key(business_id, name="make-run").key


def _start_worker(threads: int) -> Any:
    import switchboard.worker.app as worker_app
    from switchboard.worker.runtime.inprocess import start_worker
    from switchboard.worker.runtime.recovery import requeue_unfinished_jobs

    worker = start_worker(worker_app.broker, threads)
    if not get_settings().amqp_url:
        requeue_unfinished_jobs()
    return worker


async def serve(
    host: str, api_port: int, gateway_port: int, scheduler_port: int, threads: int
) -> None:
    """Run the roles SERVICE_ROLE selects in this process; ``all`` runs every one."""
    settings = get_settings()
    role = settings.service_role
    if role == "worker":
        from switchboard.worker.runner import run_worker

        run_worker(1, threads, [], [])
        return
    ports = {"api": api_port, "gateway": gateway_port, "scheduler": scheduler_port}
    if role != "all":
        await serve_one(role, host, ports[role])
        return
    worker_startup_migrations()
    mode = "embedded (SQLite + in-process broker)" if settings.embedded else "PostgreSQL + RabbitMQ"
    apps = {name: build_app(name, settings) for name in ports}
    worker = _start_worker(threads)
    console.print(f"[bold]Switchboard[/bold] is up — {mode}")
    console.print(f"  API        http://{host}:{api_port}  (docs: /docs)")
    console.print(f"  Gateway    http://{host}:{gateway_port}")
    console.print(f"  Scheduler  http://{host}:{scheduler_port}/health")
    if settings.environment == "development":
        console.print(f"  API key    {_demo_api_key()}  (demo business {DEMO_PHONE})")
    try:
        await asyncio.gather(*(_server(apps[name], host, ports[name]).serve() for name in ports))
    finally:
        worker.stop()

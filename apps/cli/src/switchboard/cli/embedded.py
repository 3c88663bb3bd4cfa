"""Serving the services: one role per process, or all of them in one (``switchboard run``)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from switchboard.common.db import system_session
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import Business
from switchboard.common.settings import Settings, get_settings, reachable_host
from switchboard.domain.businesses.accounts import business_for_api_key, issue_api_key

DEMO_PHONE = "+15550000000"
#: Under VAR_DIR: the demo business's API key, so it stays the same across restarts.
DEMO_KEY_FILE = "demo-api-key"


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
        # log_config=None: uvicorn's lines go through our logging (JSON with LOG_JSON).
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", log_config=None, lifespan="on"
        )
    )


async def serve_one(role: str, host: str, port: int) -> None:
    """Serve one HTTP role until interrupted."""
    await _server(build_app(role, get_settings()), host, port).serve()


def demo_api_key(var_dir: Path) -> str:
    """The demo business's API key (the business is created on first run), for local
    development only. The same key comes back on every start with the same data directory:
    it is kept in ``VAR_DIR/demo-api-key`` (mode 0600) and issued anew only when that file is
    gone or its key no longer opens the demo business (revoked, another database)."""
    path = var_dir / DEMO_KEY_FILE
    with system_session() as session:
        business = session.query(Business).filter_by(phone_number=DEMO_PHONE).one_or_none()
        business_id = business.id if business is not None else None
    if business_id is None:
        from switchboard.domain.businesses.accounts import create_business

        _, issued = create_business("Demo Business", DEMO_PHONE)
        _write_private(path, issued.key)
        return issued.key
    if path.exists():
        kept = path.read_text().strip()
        if business_for_api_key(kept) == business_id:
            return kept
    key = issue_api_key(business_id, name="demo (switchboard run)").key
    _write_private(path, key)
    return key


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (it holds a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
    path.chmod(0o600)  # O_CREAT's mode applies only to a new file, not to one left from before


def use_urls_for_ports(host: str, ports: dict[str, int]) -> Settings:
    """Make the service URLs the ports imply (those the environment leaves unset) this
    process's settings, and return them. They go into the environment, not only into one
    Settings object, because every module reads :func:`get_settings` on its own."""
    os.environ.update(get_settings().urls_for_ports(host, ports))
    get_settings.cache_clear()
    return get_settings()


def banner(settings: Settings, host: str, ports: dict[str, int], api_key: str | None) -> list[str]:
    """What ``switchboard run`` prints once it is up: where each service is, how to log in to
    the dashboard, where the development secrets are and how to point the CLI at this run."""
    mode = "embedded (SQLite + in-process broker)" if settings.embedded else "PostgreSQL + RabbitMQ"
    local = f"http://{reachable_host(host)}"
    lines = [
        f"Switchboard is up — {mode}",
        f"  Dashboard  {local}:{ports['api']}/dashboard"
        + ("  (log in with the API key below)" if api_key else ""),
        f"  API        {local}:{ports['api']}  (docs: /docs)",
        f"  Gateway    {local}:{ports['gateway']}",
        f"  Scheduler  {local}:{ports['scheduler']}/health",
    ]
    if api_key:
        lines.append(
            f"  API key    {api_key}  (demo business {DEMO_PHONE}; "
            f"kept in {settings.var_dir / DEMO_KEY_FILE})"
        )
    if settings.environment == "development":
        lines += [f"  {label:<10} {text}" for label, text in _secret_lines(settings)]
    exports = f"API_BASE_URL={settings.api_base_url} PUBLIC_BASE_URL={settings.public_base_url}"
    if api_key:
        exports += f" SWITCHBOARD_API_KEY={api_key}"
    lines += ["  In another shell, for the CLI:", f"    export {exports}"]
    return lines


def _secret_lines(settings: Settings) -> list[tuple[str, str]]:
    """Whether the admin key and the Twilio credentials are still the development defaults
    written in ``switchboard.common.settings`` (printed, they are no secret) or set."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    admin = settings.admin_api_key
    if admin == defaults["admin_api_key"]:
        admin_text = f"{admin}  (development default; set ADMIN_API_KEY, see .env.example)"
    else:
        admin_text = "set by ADMIN_API_KEY"
    if settings.twilio_auth_token == defaults["twilio_auth_token"]:
        twilio_text = (
            "development credentials, no real calls or messages; "
            "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN for real ones"
        )
    else:
        twilio_text = f"account {settings.twilio_account_sid} (TWILIO_AUTH_TOKEN set)"
    return [("Admin key", admin_text), ("Twilio", twilio_text)]


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
    role = get_settings().service_role
    if role == "worker":
        from switchboard.worker.runner import run_worker

        run_worker(1, threads, [], [])
        return
    ports = {"api": api_port, "gateway": gateway_port, "scheduler": scheduler_port}
    if role != "all":
        use_urls_for_ports(host, {role: ports[role]})
        await serve_one(role, host, ports[role])
        return
    settings = use_urls_for_ports(host, ports)
    worker_startup_migrations()
    apps = {name: build_app(name, settings) for name in ports}
    worker = _start_worker(threads)
    key = demo_api_key(settings.var_dir) if settings.environment == "development" else None
    # Plain lines on stdout, never wrapped: the key and the URLs must copy whole.
    sys.stdout.write("".join(line + "\n" for line in banner(settings, host, ports, key)))
    sys.stdout.flush()
    try:
        await asyncio.gather(*(_server(apps[name], host, ports[name]).serve() for name in ports))
    finally:
        worker.stop()

"""``switchboard api`` as a real process on a SQLite file the test shares with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from tests.support.environment import configured
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for


@contextmanager
def shared_sqlite(directory: Path) -> Iterator[Settings]:
    """Point this process at a migrated SQLite file under ``directory``."""
    url = f"sqlite:///{directory / 'switchboard.db'}"
    with configured(database_url=url, amqp_url="", var_dir=str(directory / "var")) as settings:
        worker_startup_migrations()
        yield settings


@contextmanager
def running_api(settings: Settings, directory: Path) -> Iterator[str]:
    """Start ``switchboard api`` on ``settings``' database; yield its base URL."""
    port = free_port()
    env = service_env(
        database_url=settings.database_url,
        amqp_url="",
        var_dir=str(directory / "var"),
        service_role="api",
        enable_schedulers="false",
    )
    process = ServiceProcess(["api", "--port", str(port)], env, directory / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(f"{url}/health"), timeout=60, what="the API to answer /health")
        yield url
    finally:
        process.stop()
        print(process.output()[-4000:])  # shown by pytest only when the test failed


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

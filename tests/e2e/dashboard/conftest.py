"""A real API process on a SQLite file, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from tests.support.environment import configured
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Settings]:
    """A migrated SQLite file that this test and the API process share."""
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    with configured(database_url=url, amqp_url="", var_dir=str(tmp_path / "var")) as settings:
        worker_startup_migrations()
        yield settings


@pytest.fixture
def api_url(database: Settings, tmp_path: Path) -> Iterator[str]:
    """``switchboard api`` as a real process on the shared database."""
    port = free_port()
    env = service_env(
        database_url=database.database_url,
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        service_role="api",
        enable_schedulers="false",
    )
    process = ServiceProcess(["api", "--port", str(port)], env, tmp_path / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(f"{url}/health"), timeout=60, what="the API to answer /health")
        yield url
    finally:
        process.stop()
        print(process.output()[-4000:])


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A fresh page in headless Chromium."""
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

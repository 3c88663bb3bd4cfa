"""A real API process on a SQLite file, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.common.settings import Settings
from tests.support.api_server import running_api, shared_sqlite

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
    with shared_sqlite(tmp_path) as settings:
        yield settings


@pytest.fixture
def api_url(database: Settings, tmp_path: Path) -> Iterator[str]:
    """``switchboard api`` as a real process on the shared database."""
    with running_api(database, tmp_path) as url:
        yield url


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

"""Fixtures shared by every tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from tests.support.environment import configured


@pytest.fixture(autouse=True)
def _logging_configuration_kept() -> Iterator[None]:
    """Each test leaves structlog as it found it: a command run in-process configures logging
    at its settings' level (``keys``, ``create-business``), which would otherwise hold for
    every later test (what a module's fixture sets holds for its module: a test capturing
    lines uses ``tests.support.log_capture``, at every level whatever was set)."""
    kept = structlog.get_config()
    yield
    structlog.configure(**kept)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Settings]:
    """Embedded mode: a fresh SQLite file and the in-process broker, migrated."""
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var")) as settings:
        worker_startup_migrations()
        yield settings

"""Fixtures shared by every tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.settings import Settings
from tests.support.environment import configured


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Settings]:
    """Embedded mode: a fresh SQLite file and the in-process broker, migrated."""
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var")) as settings:
        worker_startup_migrations()
        yield settings

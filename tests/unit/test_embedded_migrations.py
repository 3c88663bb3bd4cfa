"""The embedded database's migrations are all or nothing: an upgrade that stops part-way (a
failing migration, or ``make run`` killed while it migrates its first start) leaves the
SQLite file as it was, so the next start migrates it (the schema itself: tests/integration)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from switchboard.common.db import get_engine
from switchboard.common.migrate import (
    MigrationFailedError,
    current_revision,
    newest_script_revision,
    worker_startup_migrations,
)
from tests.support.environment import configured


def test_an_upgrade_stopped_part_way_leaves_nothing_and_the_next_one_applies_it_all(
    tmp_path: Path,
) -> None:
    """Before, the first migration's tables stayed (pysqlite commits DDL by itself until a
    statement opens a transaction) without the revision row: every later start failed on
    ``table businesses already exists``, a traceback, until var/ was deleted."""
    var = tmp_path / "var"
    var.mkdir()
    # In the way of migration 0018 (the sandbox inbox): the upgrade fails there.
    with sqlite3.connect(var / "switchboard.db") as database:
        database.execute("CREATE TABLE sandbox_messages (id INTEGER PRIMARY KEY)")
    with configured(database_url="", amqp_url="", var_dir=str(var)):
        # Named by its script, though the 17 before it ran first (in the same transaction).
        with pytest.raises(
            MigrationFailedError,
            match=r"^migration 0018_\w+ failed on the SQLite database .*: table "
            r"sandbox_messages already exists \(nothing applied: the database stays at revision "
            r"none\)$",
        ):
            worker_startup_migrations()
        with get_engine().connect() as connection:
            assert current_revision(connection) is None
        tables = _tables(var)
        assert tables == {"sandbox_messages"}, tables

        with sqlite3.connect(var / "switchboard.db") as database:
            database.execute("DROP TABLE sandbox_messages")
        assert worker_startup_migrations() is True
        with get_engine().connect() as connection:
            assert current_revision(connection) == newest_script_revision()


def _tables(var: Path) -> set[str]:
    with sqlite3.connect(var / "switchboard.db") as database:
        rows = database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}

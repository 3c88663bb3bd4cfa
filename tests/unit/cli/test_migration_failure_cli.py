"""A migration that fails on the embedded SQLite file ends ``switchboard migrate`` and the
embedded ``switchboard run`` with one line naming the script and SQLite's error, exit 1: before,
a traceback of some 80 lines, the failing ``CREATE TABLE`` in it, exit 1 as for a crash."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from switchboard.cli.exit_codes import FAILED
from tests.support.processes import free_port, run_cli, service_env


def _broken_database(var: Path, revision: str | None) -> Path:
    """``var/switchboard.db`` holding a table the next migration creates: 0001's ``businesses``
    on an empty file, or 0013's ``parked_events`` on one at revision 0012."""
    var.mkdir()
    path = var / "switchboard.db"
    with sqlite3.connect(path) as database:
        if revision is None:
            database.execute("CREATE TABLE businesses (id INTEGER PRIMARY KEY)")
        else:
            database.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            database.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
            database.execute("CREATE TABLE parked_events (id INTEGER PRIMARY KEY)")
    return path


def _switchboard(
    cwd: Path, *args: str, log_level: str = "INFO"
) -> subprocess.CompletedProcess[str]:
    """``switchboard ARGS`` in ``cwd``, embedded, logging at info as ``make run`` does (Alembic's
    own lines are info: they may come, a traceback may not)."""
    env = service_env(database_url="", amqp_url="", var_dir=str(cwd / "var"), log_level=log_level)
    for name in ("PUBLIC_BASE_URL", "API_BASE_URL", "API_PUBLIC_BASE_URL"):
        env.pop(name, None)
    return run_cli(*args, env=env, cwd=cwd)


def _run_args() -> list[str]:
    ports = [str(free_port()) for _ in range(3)]
    return ["run", "--api-port", ports[0], "--gateway-port", ports[1], "--scheduler-port", ports[2]]


@pytest.mark.parametrize("command", ["migrate", "run"])
@pytest.mark.parametrize(
    ("revision", "script", "table"),
    [(None, "0001_initial_schema", "businesses"), ("0012", "0013_parked_events", "parked_events")],
)
def test_a_failing_migration_is_one_line_naming_the_script_and_sqlites_error(
    tmp_path: Path, command: str, revision: str | None, script: str, table: str
) -> None:
    path = _broken_database(tmp_path / "var", revision)
    result = _switchboard(tmp_path, *(["migrate"] if command == "migrate" else _run_args()))

    assert result.returncode == FAILED, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "CREATE TABLE" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"error: migration {script} failed on the SQLite database {path.resolve()}: table "
        f"{table} already exists (nothing applied: the database stays at revision "
        f"{revision or 'none'})"
    ], result.stderr
    assert result.stdout == ""  # `run`'s banner never came
    with sqlite3.connect(path) as database:  # the one transaction was rolled back
        tables = {name for (name,) in database.execute("SELECT name FROM sqlite_master")}
    assert "leads" not in tables and "jobs" not in tables, tables


def test_the_traceback_is_in_the_debug_log(tmp_path: Path) -> None:
    _broken_database(tmp_path / "var", None)
    result = _switchboard(tmp_path, "migrate", log_level="DEBUG")
    assert result.returncode == FAILED, result.stderr
    assert "migrations.failed" in result.stderr
    assert "Traceback" in result.stderr and "table businesses already exists" in result.stderr
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith("error: migration 0001_initial_schema failed")

"""Commands that work on the embedded database directly, run where there is none."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app
from switchboard.common.settings import Settings
from tests.support.environment import configured

runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """Embedded mode pointed at a directory with no database in it, as in a fresh shell."""
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var")):
        yield tmp_path / "var"


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "list", "--business", "1"],
        ["keys", "create", "--business", "1"],
        ["keys", "revoke", "1", "--business", "1"],
        ["create-business", "--name", "Acme", "--phone", "+15551234567"],
    ],
)
def test_without_a_database_a_command_says_where_it_looked_and_creates_nothing(
    elsewhere: Path, args: list[str]
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert one_line(result.output) == (
        f"error: no Switchboard database at {elsewhere.resolve() / 'switchboard.db'}: run it "
        "from the directory of `make run`, or set VAR_DIR / DATABASE_URL"
    )
    assert not elsewhere.exists()


def test_a_database_file_never_migrated_counts_as_none(elsewhere: Path) -> None:
    elsewhere.mkdir()
    sqlite3.connect(elsewhere / "switchboard.db").close()
    result = runner.invoke(app, ["keys", "list", "--business", "1"])
    assert result.exit_code == 1
    assert "no Switchboard database at" in one_line(result.output)
    assert "Traceback" not in result.output and "no such table" not in result.output


def test_a_database_behind_the_code_is_to_be_migrated_first(elsewhere: Path) -> None:
    elsewhere.mkdir()
    with sqlite3.connect(elsewhere / "switchboard.db") as old:
        old.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        old.execute("INSERT INTO alembic_version VALUES ('0001')")
    result = runner.invoke(app, ["keys", "list", "--business", "1"])
    assert result.exit_code == 1
    assert "is at revision 0001, older than this code's: run `switchboard migrate`" in one_line(
        result.output
    )


def test_granting_a_role_on_the_embedded_database_is_refused_before_migrating(
    elsewhere: Path,
) -> None:
    result = runner.invoke(app, ["db", "grant-app-role", "switchboard_login"])
    assert result.exit_code == 2
    assert one_line(result.output) == (
        "error: roles exist on PostgreSQL only: set DATABASE_URL (and MIGRATION_DATABASE_URL)"
    )
    assert not elsewhere.exists()


def test_a_migrated_database_is_used(embedded: Settings) -> None:
    result = runner.invoke(app, ["keys", "list", "--business", "999999999"])
    assert result.exit_code == 2 and "business 999999999 not found" in result.output


#: Nothing listens on port 1: every connection is refused at once, as while PostgreSQL is down.
NOWHERE = "postgresql://postgres:not-shown@127.0.0.1:1/switchboard"


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "list", "--business", "1"],
        ["keys", "revoke", "1", "--business", "1"],
        ["create-business", "--name", "Acme", "--phone", "+15551234567"],
        ["migrate"],
    ],
)
def test_a_postgresql_that_refuses_the_connection_is_one_line_naming_it(
    tmp_path: Path, args: list[str]
) -> None:
    with configured(database_url=NOWHERE, amqp_url="", var_dir=str(tmp_path)):
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert one_line(result.output).startswith(
        "error: the database is unavailable: connection failed: "
        'connection to server at "127.0.0.1", port 1 failed'
    ), result.output
    assert "Traceback" not in result.output and "not-shown" not in result.output

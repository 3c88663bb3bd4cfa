"""Prepared statements run through libpq: parameters arrive intact, errors keep their class."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from switchboard.common.db import tenant_session
from switchboard.common.db.libpq import PreparedStatement
from switchboard.common.jobs import enqueue
from switchboard.common.settings import Settings
from switchboard.worker.runtime import ledger, ledger_connections
from tests.support.actors import NOOP
from tests.support.factories import make_business

pytestmark = pytest.mark.integration

_ECHO = PreparedStatement(
    "test_echo",
    "SELECT item, :at, :note, :n + 1 FROM unnest(:items) AS item",
    {"items": "text[]", "at": "timestamptz", "note": "text", "n": "int4"},
)


@pytest.fixture
def conn(pg_url: str) -> psycopg.Connection:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection


def test_text_array_elements_with_quotes_backslashes_and_braces_arrive_intact(
    conn: psycopg.Connection,
) -> None:
    items = ["plain", 'with "quotes"', "back\\slash", "{brace,comma}", "", "NULL"]
    at = datetime(2026, 12, 1, 20, 5, 6, 789, tzinfo=UTC)
    _ECHO.prepare(conn)

    rows = _ECHO.run(conn, {"items": items, "at": at, "note": None, "n": 41})

    assert [row[0] for row in rows] == items
    assert {(row[1], row[2], row[3]) for row in rows} == {
        ("2026-12-01 20:05:06.000789+00", None, "42")
    }


def test_a_failing_statement_raises_psycopgs_own_error_class(conn: psycopg.Connection) -> None:
    divide = PreparedStatement("test_divide", "SELECT 1 / :d", {"d": "int4"})
    divide.prepare(conn)

    with pytest.raises(psycopg.errors.DivisionByZero):
        divide.run(conn, {"d": 0})
    assert divide.run(conn, {"d": 1}) == [["1"]]  # the connection is still usable


def test_a_lost_connection_is_an_operational_error(conn: psycopg.Connection, pg_url: str) -> None:
    _ECHO.prepare(conn)
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])

    with pytest.raises(psycopg.OperationalError):
        _ECHO.run(conn, {"items": ["x"], "at": None, "note": None, "n": 1})


def test_the_ledger_reconnects_when_its_connections_were_terminated(
    pg: Settings, pg_url: str
) -> None:
    business = make_business()
    with tenant_session(business.id):
        first, second, third = (enqueue(NOOP, business_id=business.id).job_id for _ in range(3))
    assert ledger.mark_started(first, max_unfinished=3) is not None
    ledger.mark_succeeded(first)
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [ledger_connections.APPLICATION_NAME],
        )

    started = ledger.mark_started(second, max_unfinished=3)
    ledger.mark_succeeded(second)

    assert started is not None and started.status == "running"
    assert ledger.status_of(second) == "succeeded"
    # The next marks go through fresh batch connections again, not the one-off fallback.
    ledger.mark_started(third, max_unfinished=3)
    ledger.mark_succeeded(third)
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        batch_backends = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND query LIKE %s",
            [ledger_connections.APPLICATION_NAME, "%unnest%"],
        ).fetchone()
    assert batch_backends == (2,)  # one per group commit: delivery marks and successes

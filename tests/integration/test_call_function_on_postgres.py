"""``call_function``: one statement on a pooled connection in autocommit, handed back as found."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from switchboard.common.db.engine import call_function, get_engine
from switchboard.common.settings import Settings

pytestmark = pytest.mark.integration


def _one_pooled_connection() -> None:
    """Empty the pool: one checkout at a time, every checkout meets the one connection the
    first opens (a call and a transaction after it meet the same connection)."""
    get_engine().dispose()


def test_a_call_commits_on_its_own_and_leaves_its_connection_for_transactions(
    pg: Settings,
) -> None:
    _one_pooled_connection()
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS seen (v int) ON COMMIT PRESERVE ROWS"))

    (backend,) = call_function("SELECT pg_backend_pid()", {})
    assert call_function("SELECT CAST(:v AS int) + 1", {"v": 41}) == (42,)
    # A failing statement also hands its connection back out of autocommit.
    with pytest.raises(psycopg.errors.DivisionByZero):
        call_function("SELECT 1 / CAST(:zero AS int)", {"zero": 0})

    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == backend
        conn.execute(text("INSERT INTO seen VALUES (1)"))
        conn.rollback()  # would be a no-op, the row kept, on a connection left in autocommit
        assert conn.execute(text("SELECT count(*) FROM seen")).scalar() == 0


def test_a_connection_the_server_dropped_is_discarded_and_the_next_call_reconnects(
    pg: Settings,
) -> None:
    _one_pooled_connection()
    (backend,) = call_function("SELECT pg_backend_pid()", {})
    with psycopg.connect(pg.database_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))

    with pytest.raises(psycopg.OperationalError):
        call_function("SELECT pg_backend_pid()", {})
    (again,) = call_function("SELECT pg_backend_pid()", {})

    assert again != backend
    assert get_engine().pool.checkedout() == 0  # type: ignore[attr-defined]  # QueuePool
    assert call_function("SELECT pg_backend_pid()", {}) == (again,)


def test_a_call_that_returns_no_row_says_so(pg: Settings) -> None:
    with pytest.raises(LookupError):
        call_function("SELECT 1 WHERE false", {})

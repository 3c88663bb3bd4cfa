"""The engine's pool pings a connection only when it has been idle (``db/engine.py``): one
PostgreSQL dropped while it sat idle is replaced, not handed out; one back in the pool a moment
ago is handed out without a round trip, and if PostgreSQL dropped it meanwhile the statement
fails once as a disconnect and the pool starts afresh."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import DBAPIError

from switchboard.common.db import engine as engine_module

pytestmark = pytest.mark.integration

APPLICATION_NAME = "switchboard-ping-test"


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    url = make_url(pg_url).update_query_dict({"application_name": APPLICATION_NAME})
    created = engine_module.make_engine(url.render_as_string(hide_password=False), pool_size=2)
    try:
        yield created
    finally:
        created.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate_the_pool_s_backends(pg_url: str) -> int:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [APPLICATION_NAME],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_connection_dropped_while_idle_is_replaced_before_it_is_handed_out(
    engine: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    assert _terminate_the_pool_s_backends(pg_url) == 1
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # it has been idle long enough

    replaced = _backend(engine)  # the ping failed: a new connection, and no error

    assert replaced != first


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    engine: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    assert _terminate_the_pool_s_backends(pg_url) == 1
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)  # it was in use just now

    # Handed out as it was: its statement meets the dropped connection, once.
    with pytest.raises(DBAPIError) as dropped:
        _backend(engine)
    assert dropped.value.connection_invalidated

    assert _backend(engine) != first  # the pool started afresh

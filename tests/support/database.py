"""The test's own reads and writes, on a connection of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from switchboard.common.db.engine import get_engine
from switchboard.common.settings import get_settings


def on_own_connection(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a new autocommit connection to the configured database, closed after.

    Not the app's pooled connections: what runs here is not theirs to plan or explain, and
    the session's statistics reach the server as it closes.
    """
    dsn = get_settings().effective_database_url.replace("+psycopg", "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def refusing_connections(admin_url: str, database_url: str) -> Iterator[None]:
    """PostgreSQL refuses new connections to ``database_url``'s database and drops the ones
    open (as a server out of connection slots does: every statement that needs a connection
    fails), until the block ends; allowed again in a ``finally``, and this process's engine
    starts afresh. ``admin_url``: a superuser's connection to another database."""
    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            get_engine().dispose()  # this process's pooled connections were dropped too

"""The test's own reads and writes, on a connection of their own."""

from __future__ import annotations

from typing import Any

import psycopg

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

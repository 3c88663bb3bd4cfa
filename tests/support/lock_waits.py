"""Holding a PostgreSQL interleaving: await a backend waiting on a lock, never sleep for it."""

from __future__ import annotations

from concurrent.futures import Future

from sqlalchemy import text

from switchboard.common.db import system_session
from tests.support.waiting import wait_for


def waiting(statement: str) -> int:
    """How many backends of this database wait on a lock (a row's, an insert's or an
    advisory one) in a statement ``LIKE statement``."""
    with system_session() as session:
        count = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE :statement"
            ),
            {"statement": statement},
        ).scalar_one()
    return int(count)


def until_waiting(statement: str, *pending: Future[object], what: str, backends: int = 1) -> None:
    """Until ``backends`` backends wait on a lock in ``statement``; fails at once if one of
    ``pending`` finished instead (it did not wait where it should have)."""
    wait_for(lambda: any(f.done() for f in pending) or waiting(statement) >= backends, what=what)
    finished = [f for f in pending if f.done()]
    assert not finished, f"finished instead of waiting: {[f.result() for f in finished]}"

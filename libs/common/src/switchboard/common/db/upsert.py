"""Inserts that lose a uniqueness race quietly, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``; True if the row was inserted.

    The database's unique constraints decide, so concurrent callers cannot both insert.
    """
    statement = _insert_ignoring(session.get_bind().dialect.name, table)
    return session.execute(statement, values).first() is not None


def insert_many_ignoring_conflicts(
    session: Session, table: Table, rows: list[dict[str, Any]]
) -> None:
    """:func:`insert_ignoring_conflicts` for many rows at once (an ``executemany``, which
    SQLAlchemy sends as multi-row ``INSERT``s), saying nothing of which were new."""
    if rows:
        builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(builder(table).on_conflict_do_nothing(), rows)


@lru_cache
def _insert_ignoring(dialect: str, table: Table) -> Any:
    # Built once per table: each call only binds its values (statement building is not free).
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    key = list(table.primary_key.columns)[0]
    # RETURNING rather than rowcount: psycopg 3 reports -1 for this statement.
    return builder(table).on_conflict_do_nothing().returning(key)

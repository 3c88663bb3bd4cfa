"""Keyset pagination on a monotonically increasing id: newest first, stable under inserts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, newest first, and the id to continue after (None at the end)."""

    items: list[T]
    next_after: int | None


def fetch_page(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[int],
    *,
    limit: int,
    after: int | None,
) -> Page[Any]:
    """Run ``query`` for the ``limit`` rows with ids below ``after`` (all rows if None)."""
    if after is not None:
        query = query.where(id_column < after)
    rows = list(session.execute(query.order_by(id_column.desc()).limit(limit + 1)).scalars())
    items = rows[:limit]
    more = len(rows) > limit and bool(items)
    return Page(items, int(getattr(items[-1], id_column.key)) if more else None)

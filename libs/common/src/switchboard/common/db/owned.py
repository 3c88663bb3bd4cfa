"""Loading one business's rows by id for background jobs: another tenant's row is "not found".

A job that is handed an id which does not belong to its business can never succeed, so the
lookup raises :class:`ForeignOrMissingRow`, a permanent job error (failed at once, no retry).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.errors import PermanentJobError

_Row = TypeVar("_Row")


class ForeignOrMissingRow(PermanentJobError):  # noqa: N818 - reads as what the job found
    """The row does not exist for this business (it may belong to another one)."""


def owned_row(
    session: Session, model: type[_Row], business_id: int, row_id: int, *, lock: bool = False
) -> _Row:
    """The ``model`` row ``row_id`` of ``business_id``; raises :class:`ForeignOrMissingRow`.

    The business filter is explicit (SQLite has no row-level security); ``lock`` takes a row
    lock (``SELECT … FOR UPDATE``) so concurrent deliveries of a job serialise on it.
    """
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        raise ForeignOrMissingRow(f"{model.__name__} id must be an integer, got {row_id!r}")
    table: Any = model
    query = select(model).where(table.business_id == business_id, table.id == row_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise ForeignOrMissingRow(f"{model.__name__} {row_id} not found for business {business_id}")
    return row
